/**
 * Which IP addresses concord may call an HTTP participant at. Pure: the URL
 * policy checks literal addresses with it, the guarded DNS lookup every
 * address a name resolves to, at registration and again on every call (so a
 * name that later resolves elsewhere — DNS rebinding — is refused too).
 */
import { isIP } from "node:net";

/** Why an address is special; `public` is every other address. */
export type AddressClass =
  | "public"
  | "loopback"
  | "private"
  | "shared"
  | "unique-local"
  | "link-local"
  | "multicast"
  | "unspecified"
  | "reserved";

/** Reachable only inside a host or network: callable when private addresses are allowed. */
const PRIVATE_CLASSES: ReadonlySet<AddressClass> = new Set(["loopback", "private", "shared", "unique-local"]);

type V4Range = readonly [base: number, bits: number, cls: AddressClass];

const v4 = (a: number, b: number, c: number, d: number) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

// Most specific first does not matter: the ranges do not overlap.
const V4_RANGES: readonly V4Range[] = [
  [v4(0, 0, 0, 0), 8, "unspecified"],
  [v4(10, 0, 0, 0), 8, "private"],
  [v4(100, 64, 0, 0), 10, "shared"],
  [v4(127, 0, 0, 0), 8, "loopback"],
  // Where instance-metadata endpoints live (169.254.169.254): never callable.
  [v4(169, 254, 0, 0), 16, "link-local"],
  [v4(172, 16, 0, 0), 12, "private"],
  [v4(192, 0, 0, 0), 24, "reserved"],
  [v4(192, 0, 2, 0), 24, "reserved"],
  [v4(192, 168, 0, 0), 16, "private"],
  [v4(198, 18, 0, 0), 15, "reserved"],
  [v4(198, 51, 100, 0), 24, "reserved"],
  [v4(203, 0, 113, 0), 24, "reserved"],
  [v4(224, 0, 0, 0), 4, "multicast"],
  [v4(240, 0, 0, 0), 4, "reserved"],
];

function parseV4(address: string): number | undefined {
  const parts = address.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const byte = Number(part);
    if (byte > 255) return undefined;
    n = n * 256 + byte;
  }
  return n;
}

function classifyV4(n: number): AddressClass {
  for (const [base, bits, cls] of V4_RANGES) {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    if ((n & mask) >>> 0 === base) return cls;
  }
  return "public";
}

/** The eight 16-bit groups of an IPv6 address (an embedded dotted quad counts as the last two). */
function parseV6(address: string): number[] | undefined {
  let text = address.toLowerCase().split("%")[0] ?? "";
  const last = text.slice(text.lastIndexOf(":") + 1);
  if (last.includes(".")) {
    const n = parseV4(last);
    if (n === undefined) return undefined;
    text = `${text.slice(0, text.length - last.length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string) => (part === "" ? [] : part.split(":"));
  const head = groupsOf(halves[0] ?? "");
  const tail = groupsOf(halves[1] ?? "");
  if (![...head, ...tail].every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  const hex = (groups: string[]) => groups.map((g) => Number.parseInt(g, 16));
  if (halves.length === 1) return head.length === 8 ? hex(head) : undefined;
  const fill = 8 - head.length - tail.length;
  if (fill < 1) return undefined;
  return [...hex(head), ...Array<number>(fill).fill(0), ...hex(tail)];
}

const v4Of = (hi: number, lo: number) => ((hi << 16) | lo) >>> 0;

function classifyV6(g: readonly number[]): AddressClass {
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, h = 0, i = 0] = g;
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(8)) return "unspecified";
  if (zeroUpTo(7) && i === 1) return "loopback";
  // IPv4-mapped (::ffff:a.b.c.d) and the deprecated IPv4-compatible (::a.b.c.d): the IPv4 address decides.
  if (zeroUpTo(5) && f === 0xffff) return classifyV4(v4Of(h, i));
  if (zeroUpTo(6)) return classifyV4(v4Of(h, i));
  // NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::) carry an IPv4 address that a gateway reaches.
  if (a === 0x64 && b === 0xff9b && c === 0 && d === 0 && e === 0 && f === 0) return classifyV4(v4Of(h, i));
  if (a === 0x2002) return classifyV4(v4Of(b, c));
  if ((a & 0xfe00) === 0xfc00) return "unique-local";
  if ((a & 0xffc0) === 0xfe80) return "link-local";
  // Deprecated site-local: private by intent.
  if ((a & 0xffc0) === 0xfec0) return "private";
  if ((a & 0xff00) === 0xff00) return "multicast";
  // Documentation, discard-only, Teredo and ORCHID-style protocol ranges: nothing to call there.
  if (a === 0x2001 && b === 0x0db8) return "reserved";
  if (a === 0x0100 && b === 0 && c === 0 && d === 0) return "reserved";
  if (a === 0x2001 && b < 0x0200) return "reserved";
  return "public";
}

/** The class of an IP address (IPv4, or IPv6 in any textual form); undefined when it is not one. */
export function classifyAddress(address: string): AddressClass | undefined {
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  switch (isIP(bare.split("%")[0] ?? "")) {
    case 4: {
      const n = parseV4(bare);
      return n === undefined ? undefined : classifyV4(n);
    }
    case 6: {
      const groups = parseV6(bare);
      return groups ? classifyV6(groups) : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * Why concord must not call this address, or undefined when it may. Private
 * classes pass when `allowPrivate`; link-local (metadata endpoints), multicast,
 * unspecified and reserved addresses never do.
 */
export function refusedAddress(address: string, allowPrivate: boolean): string | undefined {
  const cls = classifyAddress(address);
  if (cls === undefined) return `"${address}" is not an IP address`;
  if (cls === "public") return undefined;
  if (allowPrivate && PRIVATE_CLASSES.has(cls)) return undefined;
  const hint = PRIVATE_CLASSES.has(cls) ? " (set CONCORD_HTTP_PARTICIPANT_ALLOW_PRIVATE=true to allow)" : "";
  return `${address} is a ${cls} address${hint}`;
}
