// The items app: sign in, list, add and edit items, and show who is signed in.
import { clearSession, completeSignIn, currentSession, signIn, signOut } from "./auth.js";
import { ApiError, createApi } from "./api.js";

const state = { config: null, api: null, items: [], nextCursor: null };

/** A DOM element; strings become text nodes (never HTML). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value !== false && value !== undefined) element.setAttribute(name, value);
  }
  element.append(...children.filter((child) => child !== null));
  return element;
}

function setStatus(text, kind = "info") {
  const status = document.getElementById("status");
  status.textContent = text;
  status.dataset.kind = kind;
}

function ready() {
  document.body.dataset.appReady = "true";
}

function showSignedOut(message) {
  document.getElementById("session").replaceChildren(
    h("button", { id: "sign-in", type: "button", onclick: () => signIn(state.config) }, "Sign in"),
  );
  document.getElementById("main").replaceChildren(h("p", {}, "Sign in to see the items."));
  if (message) setStatus(message, "error");
}

/** A failed call: an invalid session signs out locally; anything else is shown. */
function report(error, doing) {
  if (error instanceof ApiError && error.status === 401) {
    clearSession();
    showSignedOut(error.message);
    return;
  }
  setStatus(`${doing}: ${error.message}`, "error");
}

function itemView(item) {
  return h(
    "li",
    { "data-item-id": item.id },
    h("strong", {}, item.name),
    item.description ? h("p", {}, item.description) : null,
    h("small", {}, `version ${item.version}`),
    h("button", { type: "button", onclick: (event) => editItem(event, item) }, "Edit"),
  );
}

function renderItems() {
  const list = document.getElementById("items");
  list.replaceChildren(...state.items.map(itemView));
  document.getElementById("count").textContent = `${state.items.length} shown`;
  document.getElementById("more").hidden = !state.nextCursor;
}

async function loadItems(more = false) {
  try {
    const page = await state.api.listItems(more ? state.nextCursor : null);
    state.items = more ? [...state.items, ...page.items] : page.items;
    state.nextCursor = page.next_cursor;
    renderItems();
  } catch (error) {
    report(error, "Could not list the items");
  }
}

async function addItem(event) {
  event.preventDefault();
  const form = event.target;
  try {
    const { name, description } = form.elements;
    const item = await state.api.createItem(name.value, description.value);
    form.reset();
    state.items = [item, ...state.items];
    renderItems();
    setStatus(`Added ${item.name}.`);
  } catch (error) {
    report(error, "Not added");
  }
}

function editItem(event, item) {
  const row = event.target.closest("li");
  const form = h(
    "form",
    { class: "edit" },
    h("label", {}, "Name ",
      h("input", { name: "name", value: item.name, required: "", maxlength: "200" })),
    h("label", {}, "Description ",
      h("input", { name: "description", value: item.description, maxlength: "2000" })),
    h("button", { type: "submit" }, "Save"),
    h("button", { type: "button", onclick: () => row.replaceWith(itemView(item)) }, "Cancel"),
  );
  form.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    try {
      const { name, description } = form.elements;
      const saved = await state.api.updateItem(item, name.value, description.value);
      state.items = state.items.map((each) => (each.id === saved.id ? saved : each));
      renderItems();
      setStatus(`Saved ${saved.name}.`);
    } catch (error) {
      report(error, "Not saved");
      if (error instanceof ApiError && error.status === 409) await loadItems();
    }
  });
  row.replaceChildren(form);
  form.elements.name.focus();
}

async function showWho(session) {
  const who = h("span", { id: "who" }, `Signed in as ${session.username || "…"}`);
  const roles = h("span", { id: "roles" });
  document.getElementById("session").replaceChildren(
    who,
    roles,
    h("button", { id: "sign-out", type: "button", onclick: () => signOut(state.config) },
      "Sign out"),
  );
  try {
    const me = await state.api.me();
    if (!session.username) who.textContent = `Signed in as ${me.userId}`;
    roles.textContent = `roles: ${me.roles.join(", ") || "none"}`;
  } catch (error) {
    report(error, "Could not read who you are");
  }
}

function showItemsPage() {
  document.getElementById("main").replaceChildren(
    h(
      "form",
      { id: "new-item", onsubmit: addItem },
      h("label", {}, "Name ", h("input", { name: "name", required: "", maxlength: "200" })),
      h("label", {}, "Description ", h("input", { name: "description", maxlength: "2000" })),
      h("button", { type: "submit" }, "Add"),
    ),
    h("h2", {}, "Items ", h("small", { id: "count" })),
    h("ul", { id: "items" }),
    h("button", { id: "more", type: "button", hidden: "", onclick: () => loadItems(true) }, "More"),
  );
}

async function main() {
  try {
    const response = await fetch("/config.json", { cache: "no-cache" });
    state.config = await response.json();
  } catch {
    document.getElementById("main").replaceChildren();
    setStatus("The app's settings could not be loaded: reload the page.", "error");
    ready();
    return;
  }
  try {
    await completeSignIn(state.config);
  } catch (error) {
    setStatus(error.message, "error");
  }
  const session = currentSession();
  if (!session) {
    showSignedOut();
    ready();
    return;
  }
  state.api = createApi(state.config.apiBase, () => currentSession()?.accessToken);
  showItemsPage();
  await Promise.all([showWho(session), loadItems()]);
  ready();
}

main();
