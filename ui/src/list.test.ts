import { describe, expect, it } from "vitest";
import { KeysetList, ROW_HEIGHT, type PageOf } from "./list";

type Row = { id: string };
const rows = (from: number, n: number): Row[] => Array.from({ length: n }, (_, i) => ({ id: `r${from + i}` }));

function pager(total: number, size: number) {
  const calls: Array<string | null> = [];
  const fetch = async (cursor: string | null): Promise<PageOf<Row>> => {
    calls.push(cursor);
    const start = cursor === null ? 0 : Number(cursor);
    const end = Math.min(total, start + size);
    return { items: rows(start, end - start), next_cursor: end < total ? String(end) : null };
  };
  return { fetch, calls };
}

describe("keyset list", () => {
  it("appends pages until the cursor runs out", async () => {
    const p = pager(25, 10);
    const l = new KeysetList(p.fetch);
    await l.reset();
    expect(l.rows.length).toBe(10);
    await l.loadMore();
    await l.loadMore();
    expect(l.rows.map((r) => r.id).at(-1)).toBe("r24");
    expect(l.done).toBe(true);
    await l.loadMore();
    expect(p.calls).toEqual([null, "10", "20"]);
  });

  it("ignores an answer that arrives after the filters changed", async () => {
    let release: (v: PageOf<Row>) => void = () => {};
    let first = true;
    const l = new KeysetList<Row>(() => {
      if (first) {
        first = false;
        return new Promise((res) => (release = res));
      }
      return Promise.resolve({ items: rows(100, 2), next_cursor: null });
    });
    const stale = l.reset();
    await l.reset();
    release({ items: rows(0, 5), next_cursor: "5" });
    await stale;
    expect(l.rows.map((r) => r.id)).toEqual(["r100", "r101"]);
    expect(l.done).toBe(true);
  });

  it("keeps an error message and can retry", async () => {
    let fail = true;
    const l = new KeysetList<Row>(async () => {
      if (fail) throw { code: "locked", message: "la sesión está bloqueada" };
      return { items: rows(0, 1), next_cursor: null };
    });
    await l.reset();
    expect(l.error).toBe("la sesión está bloqueada");
    fail = false;
    await l.loadMore();
    expect(l.error).toBeNull();
    expect(l.rows.length).toBe(1);
  });

  it("draws only the rows in view and asks for more near the end", async () => {
    const p = pager(1000, 200);
    const l = new KeysetList(p.fetch);
    await l.reset();
    const w = l.window(100 * ROW_HEIGHT, 20 * ROW_HEIGHT);
    expect(w.start).toBe(90);
    expect(w.end).toBe(130);
    expect(w.needMore).toBe(false);
    expect(l.window(185 * ROW_HEIGHT, 20 * ROW_HEIGHT).needMore).toBe(true);
  });

  it("selects, focuses and clamps", async () => {
    const l = new KeysetList(pager(3, 10).fetch);
    await l.reset();
    l.toggle("r1");
    expect([...l.selected]).toEqual(["r1"]);
    l.toggle("r1");
    expect(l.selected.size).toBe(0);
    l.selectAllLoaded();
    expect(l.selected.size).toBe(3);
    expect(l.move(10)).toBe(2);
    expect(l.move(-5)).toBe(0);
    expect(l.focused()?.id).toBe("r0");
  });
});
