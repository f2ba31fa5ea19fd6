import { open } from "node:fs/promises";
import { InvalidArgumentError } from "../../common/errors.js";

/**
 * The raw powers a KZG structured reference string needs, as read from a snarkjs `.ptau`
 * file: the first `count` points of section 2 ([τ^i]G1) and the first two of section 3
 * ([τ^0]G2, [τ]G2), still in ffjavascript's little-endian Montgomery ("LEM") affine form.
 * `kzg.ts` converts and checks them; this file only does the file I/O, so that `kzg.ts`
 * itself stays free of Node built-ins.
 */
export interface PtauPowers {
  /** snarkjs's "power": the file holds 2^(power+1) − 1 G1 powers. */
  power: number;
  /** count × 64 bytes. */
  tauG1: Uint8Array;
  /** 2 × 128 bytes: the G2 generator, then [τ]G2. */
  tauG2: Uint8Array;
}

/** BN254's base field modulus p, which a ptau header must name as q. */
const BN254_BASE_MODULUS =
  21888242871839275222246405745257275088696311157297823662689037894645226208583n;

const G1_LEM = 64;
const G2_LEM = 128;

/**
 * Reads the section table and header of a ptau file (binfile format: "ptau", version,
 * section count, then per section an id (u32 LE), a size (u64 LE) and the body) and returns
 * the first `count` G1 powers and the first two G2 powers.
 */
export async function readPtauPowers(path: string, count: number): Promise<PtauPowers> {
  const file = await open(path, "r").catch((cause: unknown) => {
    throw new InvalidArgumentError(`cannot open powers-of-tau file ${path}`, { cause });
  });
  try {
    const size = (await file.stat()).size;
    const read = async (position: number, length: number): Promise<Uint8Array> => {
      if (position + length > size) {
        throw new InvalidArgumentError(
          `powers-of-tau file ${path} is truncated: needs ${position + length} bytes, has ${size}`,
        );
      }
      const buffer = new Uint8Array(length);
      const { bytesRead } = await file.read(buffer, 0, length, position);
      if (bytesRead !== length) {
        throw new InvalidArgumentError(`powers-of-tau file ${path}: short read at ${position}`);
      }
      return buffer;
    };

    const head = await read(0, 12);
    if (new TextDecoder().decode(head.subarray(0, 4)) !== "ptau") {
      throw new InvalidArgumentError(`${path} is not a ptau file (no "ptau" magic)`);
    }
    const headView = new DataView(head.buffer);
    const sectionCount = headView.getUint32(8, true);
    const sections = new Map<number, { position: number; size: number }>();
    let position = 12;
    for (let i = 0; i < sectionCount; i++) {
      const header = new DataView((await read(position, 12)).buffer);
      const id = header.getUint32(0, true);
      const bodySize = Number(header.getBigUint64(4, true));
      if (sections.has(id)) {
        throw new InvalidArgumentError(`ptau file ${path} has section ${id} twice`);
      }
      sections.set(id, { position: position + 12, size: bodySize });
      position += 12 + bodySize;
    }
    const section = (id: number) => {
      const found = sections.get(id);
      if (!found) throw new InvalidArgumentError(`ptau file ${path} has no section ${id}`);
      return found;
    };

    const header = section(1);
    const headerBytes = await read(header.position, header.size);
    const view = new DataView(headerBytes.buffer);
    const n8 = view.getUint32(0, true);
    if (n8 !== 32 || header.size !== 4 + n8 + 8) {
      throw new InvalidArgumentError(
        `ptau file ${path} is not over BN254 (field element size ${n8})`,
      );
    }
    let q = 0n;
    for (let i = n8 - 1; i >= 0; i--) q = (q << 8n) | BigInt(headerBytes[4 + i]);
    if (q !== BN254_BASE_MODULUS) {
      throw new InvalidArgumentError(`ptau file ${path} is not over BN254 (q = ${q})`);
    }
    const power = view.getUint32(4 + n8, true);
    const available = 2 ** (power + 1) - 1;
    if (!Number.isInteger(count) || count < 1 || count > available) {
      throw new InvalidArgumentError(
        `an SRS of ${count} points does not fit ptau file ${path}: power ${power} holds ${available} G1 powers`,
      );
    }
    const g1 = section(2);
    if (g1.size !== available * G1_LEM) {
      throw new InvalidArgumentError(
        `ptau file ${path}: tauG1 section is ${g1.size} bytes, expected ${available * G1_LEM}`,
      );
    }
    const g2 = section(3);
    if (g2.size !== 2 ** power * G2_LEM) {
      throw new InvalidArgumentError(
        `ptau file ${path}: tauG2 section is ${g2.size} bytes, expected ${2 ** power * G2_LEM}`,
      );
    }
    return {
      power,
      tauG1: await read(g1.position, count * G1_LEM),
      tauG2: await read(g2.position, 2 * G2_LEM),
    };
  } finally {
    await file.close();
  }
}
