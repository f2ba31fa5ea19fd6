pragma circom 2.1.0;

include "bitify.circom";
include "comparators.circom";
include "poseidon-sponge.circom";

// sqrt(-1) in the BN254 scalar field (p ≡ 1 mod 4, so it exists). Lets one R1CS constraint
// produce a sum of two squares: (a + i·b)(a − i·b) = a² + b². circuits/constants.test.ts
// checks that it squares to −1.
function SQRT_MINUS_ONE() {
    return 4407920970296243842541313971887945403937097133418418784715;
}

// One chunk of a quantised model update: proves every value is in range, the chunk's exact
// sum of squares, and a hiding Poseidon commitment to the values.
//
// Why chunks: one circuit of fixed size n serves every model size, so a device downloads one
// bounded proving key instead of a key that grows with the model. The verifier chains the
// chunks through the public running sum (sumBefore of chunk j = sumBefore + partialSum of
// chunk j−1, starting at 0) and binds each to its index through `context`.
//
// Public signals, in snarkjs order (outputs first, then public inputs as declared):
//   [commitment, partialSum, context, c2, sumBefore]
template UpdateNormChunk(n, bits) {
    // ⌊253/bits⌋ values per field element: the packed integer stays below 2^253 < p, so
    // packing is injective on range-checked values and never wraps around the field.
    var PER = 253 \ bits;
    var ELEMENTS = (n + PER - 1) \ PER;
    // The salt is absorbed first, ahead of the packed values.
    var ABSORBED = ELEMENTS + 1;
    // c2 and sumBefore must stay below 2^LIMIT_BITS: enough for any n < 2^30 at any bits
    // (Σ q² < n · 2^(2·bits − 2)), and well under the 252 bits LessEqThan supports.
    var LIMIT_BITS = 2 * bits + 32;
    var OFFSET = 1 << (bits - 1);

    signal input context;
    signal input c2;
    signal input sumBefore;
    // Offset-encoded values q + 2^(bits−1), so that a range check is a plain bit
    // decomposition of a non-negative number.
    signal input values[n];
    signal input salt;

    signal output commitment;
    signal output partialSum;

    // Range check: every value is an integer in [0, 2^bits). Without it a value could be any
    // field element, and both the packing (the commitment) and Σ q² could be steered by the
    // prover to match an update of any norm. The decomposition costs one constraint per bit;
    // nothing cheaper range-checks in R1CS without lookups.
    component range[n];
    for (var i = 0; i < n; i++) {
        range[i] = Num2Bits(bits);
        range[i].in <== values[i];
    }

    // Sum of squares, two values per constraint: (qa + i·qb)(qa − i·qb) = qa² + qb² in the
    // field, and because |q| ≤ 2^(bits−1) the field value equals the integer qa² + qb²
    // (< 2^(2·bits − 1) < p). Σ over n values stays below n · 2^(2·bits − 2), far from p, so
    // partialSum is the exact integer Σ q².
    var PAIRS = n \ 2;
    signal pairSquares[PAIRS];
    var I = SQRT_MINUS_ONE();
    var total = 0;
    for (var k = 0; k < PAIRS; k++) {
        pairSquares[k] <== (values[2 * k] - OFFSET + I * (values[2 * k + 1] - OFFSET))
            * (values[2 * k] - OFFSET - I * (values[2 * k + 1] - OFFSET));
        total += pairSquares[k];
    }
    if (n % 2 == 1) {
        signal lastSquare;
        lastSquare <== (values[n - 1] - OFFSET) * (values[n - 1] - OFFSET);
        total += lastSquare;
    }
    partialSum <== total;

    // Running bound: sumBefore + partialSum ≤ c2. Checking it here, not only in the
    // verifier, means a device whose update exceeds the clip bound cannot even produce the
    // last chunk's proof. The comparator is only sound on operands below 2^(LIMIT_BITS+1),
    // hence the range checks on the two public inputs.
    component c2Range = Num2Bits(LIMIT_BITS);
    c2Range.in <== c2;
    component sumBeforeRange = Num2Bits(LIMIT_BITS);
    sumBeforeRange.in <== sumBefore;
    component withinBound = LessEqThan(LIMIT_BITS + 1);
    withinBound.in[0] <== sumBefore + partialSum;
    withinBound.in[1] <== c2;
    withinBound.out === 1;

    // Commitment: the Poseidon sponge over [salt, packed values...]. Packing is a linear
    // combination of the already range-checked values, so it costs no constraints; the
    // sponge costs 612 constraints per 16 field elements. The salt hides the update from
    // everyone who sees only the commitment (the chain, `fedproof verify`).
    component sponge = PoseidonSponge(ABSORBED);
    sponge.in[0] <== salt;
    for (var e = 0; e < ELEMENTS; e++) {
        var acc = 0;
        for (var m = 0; m < PER; m++) {
            if (e * PER + m < n) {
                acc += values[e * PER + m] * (1 << (bits * m));
            }
        }
        sponge.in[e + 1] <== acc;
    }
    commitment <== sponge.out;

    // `context` = Poseidon(jobId, round, modelHashHigh, modelHashLow, deviceId, chunkIndex)
    // enters no other constraint. A public input with an all-zero R1CS column is bound to the
    // proof only by the extra `x · 0 = 0` rows snarkjs appends during setup, a backend
    // detail: a setup without them gives the input a zero verification-key point, and then
    // any context verifies, so the proof could be replayed in another round or by another
    // device. The square puts the context into the constraint system itself (semaphore
    // squares its message and scope for the same reason).
    signal contextSquare;
    contextSquare <== context * context;
}
