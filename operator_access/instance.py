"""The access instance: started when it is stopped, then waited for until Systems Manager sees
its agent online (bounded)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from operator_access.common import AccessError, Clock

START_LIMIT_SECONDS = 300.0
"""How long a stopped instance may take to boot and register its agent."""
POLL_SECONDS = 5.0
GONE = ("shutting-down", "terminated")


def instance_state(ec2: Any, instance_id: str) -> str:
    """``pending``, ``running``, ``stopping``, ``stopped``, ... of one instance."""
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    instances = [i for r in reservations for i in r.get("Instances", [])]
    if not instances:
        raise AccessError(f"instance {instance_id} does not exist")
    return str(instances[0]["State"]["Name"])


def ssm_online(ssm: Any, instance_ids: list[str]) -> set[str]:
    """Those of the instances whose SSM Agent Systems Manager sees ``Online``."""
    answer = ssm.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": instance_ids}]
    )
    return {
        item["InstanceId"]
        for item in answer.get("InstanceInformationList", [])
        if item.get("PingStatus") == "Online"
    }


def ensure_online(
    ec2: Any,
    ssm: Any,
    instance_id: str,
    clock: Clock,
    say: Callable[[str], None],
    limit: float = START_LIMIT_SECONDS,
) -> None:
    """Starts the instance if it is stopped (or stopping: once it has stopped) and returns once
    it is running and online in Systems Manager; an AccessError after ``limit`` seconds."""
    deadline = clock.monotonic() + limit
    state = instance_state(ec2, instance_id)
    if state in GONE:
        raise AccessError(
            f"access instance {instance_id} is {state}: deploy the data stack again to replace it"
        )
    if state == "stopping":
        say(f"access instance {instance_id} is stopping: waiting for it to stop, then starting it")
        state = _wait(ec2, instance_id, clock, deadline, "stopped", limit)
    if state == "stopped":
        say(f"access instance {instance_id} is stopped: starting it (about a minute)")
        ec2.start_instances(InstanceIds=[instance_id])
    state = _wait(ec2, instance_id, clock, deadline, "running", limit)
    while instance_id not in ssm_online(ssm, [instance_id]):
        if clock.monotonic() >= deadline:
            raise AccessError(
                f"access instance {instance_id} is running but its SSM Agent is not online "
                f"after {limit:.0f} s (it reaches Systems Manager through the NAT, or the ssm, "
                "ssmmessages and ec2messages endpoints where configured): try again in a minute"
            )
        clock.sleep(POLL_SECONDS)


def _wait(
    ec2: Any, instance_id: str, clock: Clock, deadline: float, wanted: str, limit: float
) -> str:
    state = instance_state(ec2, instance_id)
    while state != wanted:
        if state in GONE:
            raise AccessError(f"access instance {instance_id} is {state}")
        if clock.monotonic() >= deadline:
            raise AccessError(
                f"access instance {instance_id} is still {state} after {limit:.0f} s, not "
                f"{wanted}: look at it in the EC2 console"
            )
        clock.sleep(POLL_SECONDS)
        state = instance_state(ec2, instance_id)
    return state
