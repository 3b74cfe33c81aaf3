import { describe, expect, it } from "vitest";
import { statusText } from "./screens/sync";

const base = { server: "https://icc.example", server_user: "ana", last_sync: null, pending: 0, conflicts: 0 };

describe("sync status line", () => {
  it("says when the computer works alone", () => {
    expect(statusText({ ...base, server: null })).toBe("Sin servidor");
  });
  it("shows pending changes and conflicts with Chilean thousands", () => {
    expect(statusText({ ...base, pending: 1234, conflicts: 2 })).toBe("Sincronizado nunca · 1.234 pendiente(s) · 2 conflicto(s)");
  });
  it("says how long ago it synced", () => {
    const ago = new Date(Date.now() - 5 * 60000).toISOString();
    expect(statusText({ ...base, last_sync: ago })).toBe("Sincronizado hace 5 min");
  });
});
