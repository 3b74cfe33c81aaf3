import { describe, expect, it } from "vitest";
import { offerText, progressText } from "./screens/updates";

describe("update offer", () => {
  it("names both versions", () => {
    expect(offerText({ version: "1.4.0", current_version: "1.3.2", notes: null, date: null })).toBe(
      "Hay una versión nueva de ICC Facturas: 1.4.0 (usted tiene 1.3.2).",
    );
  });
  it("shows download progress in megabytes with a decimal comma", () => {
    expect(progressText(3_200_000, 12_500_000)).toBe("3,2 de 12,5 MB");
    expect(progressText(1_234_500_000, null)).toBe("1.234,5 MB");
  });
});
