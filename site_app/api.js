// The API on this site's own origin (CloudFront sends /api/* to the REST API): no CORS.

export const SESSION_INVALID = "Your session is not valid or has expired: sign in again.";
export const ROLE_REFUSED = "Your role does not allow this.";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function messageOf(status, body) {
  const error = body && body.error;
  if (!error) return `The API answered ${status}.`;
  const details = (error.details || []).map((d) => `${d.field}: ${d.message}`);
  return details.length ? details.join("; ") : error.message;
}

export function createApi(apiBase, accessToken) {
  async function request(method, path, body) {
    const token = accessToken();
    if (!token) throw new ApiError(401, SESSION_INVALID);
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(`${apiBase}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401) throw new ApiError(401, SESSION_INVALID);
    if (response.status === 403) throw new ApiError(403, ROLE_REFUSED);
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, messageOf(response.status, data));
    return data;
  }

  return {
    me: () => request("GET", "/me"),
    listItems: (cursor) =>
      request("GET", `/items?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
    createItem: (name, description) => request("POST", "/items", { name, description }),
    // A full replacement with the version that was read: a 409 if someone changed it since.
    updateItem: (item, name, description) =>
      request("PUT", `/items/${encodeURIComponent(item.id)}`, {
        name,
        description,
        version: item.version,
      }),
  };
}
