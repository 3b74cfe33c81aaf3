import { describe, expect, it } from "vitest";
import { fromBase64, xmlText } from "./screens/viewer";

describe("attachment viewer", () => {
  it("decodes base64 to the exact bytes", () => {
    expect(Array.from(fromBase64("JVBERi0="))).toEqual([0x25, 0x50, 0x44, 0x46, 0x2d]);
  });
  it("reads an SII XML in the ISO-8859-1 its prolog declares", () => {
    const head = '<?xml version="1.0" encoding="ISO-8859-1"?><RznSoc>Compa';
    const bytes = new Uint8Array([...Array.from(head, (c) => c.charCodeAt(0)), 0xf1, 0xed, 0x61, 0x3c, 0x2f, 0x52, 0x3e]);
    expect(xmlText(bytes)).toContain("Compañía</R>");
  });
  it("falls back to UTF-8 without a declaration or with an unknown one", () => {
    const utf8 = new TextEncoder().encode("<a>Ñuñoa</a>");
    expect(xmlText(utf8)).toBe("<a>Ñuñoa</a>");
    const odd = new TextEncoder().encode('<?xml encoding="x-no-such"?><a>ñ</a>');
    expect(xmlText(odd)).toContain("<a>ñ</a>");
  });
});
