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
// sum of squares, a hiding Poseidon commitment to the values, and the evaluation at a public
// challenge x of the polynomial whose KZG commitment the device uploads next to the proof.
//
// Why chunks: one circuit of fixed size n serves every model size, so a device downloads one
// bounded proving key instead of a key that grows with the model. The verifier chains the
// chunks through the public running sum (sumBefore of chunk j = sumBefore + partialSum of
// chunk j−1, starting at 0) and binds each to its index through `context`.
//
// The KZG tie (circuits/README.md, "KZG contribution commitments"): the device commits
// p(X) = Σ_j q_j·X^j + blinding[0]·X^n + blinding[1]·X^(n+1) with KZG, derives
// kzgChallenge = x from that commitment, the proof context and this proof's Poseidon
// `commitment` (protocol/proving/kzg-challenge.ts), and this circuit outputs evaluation = p(x)
// over the same range-checked values; a KZG opening of the commitment at x to `evaluation`
// then shows the KZG-committed vector is the proven one (Schwartz–Zippel, error ≤ (n+1)/r).
//
// Public signals, in snarkjs order (outputs first, then public inputs as declared):
//   [commitment, partialSum, evaluation, context, c2, sumBefore, kzgChallenge]
template UpdateNormChunk(n, bits) {
    // ⌊253/bits⌋ values per field element: the packed integer stays below 2^253 < p, so
    // packing is injective on range-checked values and never wraps around the field.
    var PER = 253 \ bits;
    var ELEMENTS = (n + PER - 1) \ PER;
    // The salt and the two KZG blinding values are absorbed first, ahead of the packed values.
    var ABSORBED = ELEMENTS + 3;
    // c2 and sumBefore must stay below 2^LIMIT_BITS: enough for any n < 2^30 at any bits
    // (Σ q² < n · 2^(2·bits − 2)), and well under the 252 bits LessEqThan supports.
    var LIMIT_BITS = 2 * bits + 32;
    var OFFSET = 1 << (bits - 1);

    signal input context;
    signal input c2;
    signal input sumBefore;
    // x = kzgChallenge(context, commitment, KZG commitment) mod r, recomputed by every verifier.
    signal input kzgChallenge;
    // Offset-encoded values q + 2^(bits−1), so that a range check is a plain bit
    // decomposition of a non-negative number.
    signal input values[n];
    signal input salt;
    // The KZG blinding ρ0, ρ1: uniform field elements, the top two coefficients of p. They hide
    // the values from whoever sees the KZG commitment and one opening (two unknowns more than
    // the one evaluation reveals).
    signal input blinding[2];

    signal output commitment;
    signal output partialSum;
    signal output evaluation;

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

    // Commitment: the Poseidon sponge over [salt, blinding[0], blinding[1], packed values...].
    // Packing is a linear combination of the already range-checked values, so it costs no
    // constraints; the sponge costs 612 constraints per 16 field elements. The salt hides the
    // update from everyone who sees only the commitment (the chain, `fedproof verify`). The
    // blinding is absorbed because the challenge x hashes this commitment: every coefficient
    // of p, blinding included, is then fixed before x is known, so a prover cannot choose the
    // blinding after seeing x to make another polynomial agree with p at x.
    component sponge = PoseidonSponge(ABSORBED);
    sponge.in[0] <== salt;
    sponge.in[1] <== blinding[0];
    sponge.in[2] <== blinding[1];
    for (var e = 0; e < ELEMENTS; e++) {
        var acc = 0;
        for (var m = 0; m < PER; m++) {
            if (e * PER + m < n) {
                acc += values[e * PER + m] * (1 << (bits * m));
            }
        }
        sponge.in[e + 3] <== acc;
    }
    commitment <== sponge.out;

    // evaluation = p(kzgChallenge) by Horner from the top coefficient: one constraint per
    // coefficient after the first (n + 1 in all). The coefficients are the signed values
    // q_j = values[j] − OFFSET, the same range-checked signals the norm and the commitment
    // use, so the KZG-committed vector cannot differ from the proven one without the opening
    // failing. kzgChallenge enters every product, so it is bound by the R1CS itself.
    signal horner[n + 1];
    horner[0] <== blinding[1] * kzgChallenge + blinding[0];
    for (var j = 0; j < n; j++) {
        horner[j + 1] <== horner[j] * kzgChallenge + values[n - 1 - j] - OFFSET;
    }
    evaluation <== horner[n];

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
