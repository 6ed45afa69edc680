"""``make local``: the three tiers on localhost, no AWS (see ``stack.running``)."""
