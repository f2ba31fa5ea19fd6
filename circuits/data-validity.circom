pragma circom 2.1.0;

include "bitify.circom";
include "comparators.circom";
include "eddsaposeidon.circom";
include "poseidon.circom";
include "poseidon-sponge.circom";

// The device trained on data it committed to before the round, that it holds enough of,
// and that looks like the job's schema where the round's challenge samples it.
//
// - datasetCommitment = Poseidon(root, sampleCount), root a Poseidon Merkle tree of depth
//   `depth` over the records (unused leaves 0), registered at enrolment and signed with the
//   device's Baby Jubjub EdDSA-Poseidon key.
// - k records at indices derived from `context` open against the root and lie in the schema.
//
// The dataset is committed at enrolment, before any round exists, and the indices come from
// the round's context (job, round, global model hash, device), so a device cannot pick which
// records get checked. What the proof cannot show is that records are real observations:
// only that the committed ones are well formed where sampled.
//
// Records are stored relative to the schema minimum: value = feature − featureMin in the
// job's integer feature units, so a range check of `featureBits` bits is also the packing
// for the leaf hash.
//
// Public signals (all inputs, in this order): context, datasetCommitment, sampleCount,
// minSamples, featureMin, featureMax, classes, publicKeyX, publicKeyY.
template DataValidity(depth, features, samples, featureBits, labelBits) {
    var PER = 253 \ featureBits;
    var PACKED = (features + PER - 1) \ PER;

    signal input context;
    signal input datasetCommitment;
    signal input sampleCount;
    signal input minSamples;
    signal input featureMin;
    signal input featureMax;
    signal input classes;
    signal input publicKeyX;
    signal input publicKeyY;

    signal input root;
    signal input signatureR8x;
    signal input signatureR8y;
    signal input signatureS;
    signal input values[samples][features];
    signal input labels[samples];
    signal input siblings[samples][depth];

    // The public commitment opens to this root and this sample count; binding the count
    // here is what makes the aggregation weight (sampleCount) a proven number.
    component commitment = Poseidon(2);
    commitment.inputs[0] <== root;
    commitment.inputs[1] <== sampleCount;
    commitment.out === datasetCommitment;

    // The device's key signed the commitment. The verifier checks the key is the one the
    // device registered; inside the circuit the signature stays private.
    component signature = EdDSAPoseidonVerifier();
    signature.enabled <== 1;
    signature.Ax <== publicKeyX;
    signature.Ay <== publicKeyY;
    signature.S <== signatureS;
    signature.R8x <== signatureR8x;
    signature.R8y <== signatureR8y;
    signature.M <== datasetCommitment;

    // 1 ≤ minSamples ≤ sampleCount ≤ 2^depth. The bit decompositions keep both comparator
    // operands below 2^(depth+2), where LessEqThan is sound.
    component countBits = Num2Bits(depth + 1);
    countBits.in <== sampleCount;
    component minBits = Num2Bits(depth + 1);
    minBits.in <== minSamples;
    component fitsTree = LessEqThan(depth + 2);
    fitsTree.in[0] <== sampleCount;
    fitsTree.in[1] <== 1 << depth;
    fitsTree.out === 1;
    component enough = LessEqThan(depth + 2);
    enough.in[0] <== minSamples;
    enough.in[1] <== sampleCount;
    enough.out === 1;

    // Schema bounds: range = featureMax − featureMin must fit featureBits, and every stored
    // value v = feature − featureMin satisfies 0 ≤ v ≤ range, i.e. featureMin ≤ feature ≤ featureMax.
    component rangeBits = Num2Bits(featureBits);
    rangeBits.in <== featureMax - featureMin;
    component classBits = Num2Bits(labelBits + 1);
    classBits.in <== classes;

    component challenge[samples];
    component challengeBits[samples];
    component quotientBits[samples];
    component indexBits[samples];
    component indexInRange[samples];
    component valueBits[samples][features];
    component headroomBits[samples][features];
    component labelBitsCheck[samples];
    component labelInRange[samples];
    component leaf[samples];
    component level[samples][depth];
    signal quotient[samples];
    signal index[samples];
    signal quotientTimesCount[samples];
    signal left[samples][depth];

    for (var s = 0; s < samples; s++) {
        // Index s = (low 64 bits of Poseidon(context, s)) mod sampleCount. Num2Bits_strict
        // takes the canonical bits of the hash (a plain decomposition would let the prover
        // pick between h and h + p, i.e. between two indices). Writing low = q·count + index
        // with q < 2^64 and index < count ≤ 2^depth keeps both sides below p, so the equation
        // holds over the integers and index is exactly the remainder.
        challenge[s] = Poseidon(2);
        challenge[s].inputs[0] <== context;
        challenge[s].inputs[1] <== s;
        challengeBits[s] = Num2Bits_strict();
        challengeBits[s].in <== challenge[s].out;
        var low = 0;
        for (var b = 0; b < 64; b++) {
            low += challengeBits[s].out[b] * (1 << b);
        }
        quotient[s] <-- low \ sampleCount;
        index[s] <-- low % sampleCount;
        quotientBits[s] = Num2Bits(64);
        quotientBits[s].in <== quotient[s];
        indexBits[s] = Num2Bits(depth);
        indexBits[s].in <== index[s];
        quotientTimesCount[s] <== quotient[s] * sampleCount;
        low === quotientTimesCount[s] + index[s];
        indexInRange[s] = LessThan(depth + 2);
        indexInRange[s].in[0] <== index[s];
        indexInRange[s].in[1] <== sampleCount;
        indexInRange[s].out === 1;

        // The record lies inside the schema; its range checks double as the leaf packing.
        leaf[s] = HashElements(1 + PACKED);
        leaf[s].in[0] <== labels[s];
        for (var p = 0; p < PACKED; p++) {
            var packed = 0;
            for (var m = 0; m < PER; m++) {
                var f = p * PER + m;
                if (f < features) {
                    packed += values[s][f] * (1 << (featureBits * m));
                }
            }
            leaf[s].in[1 + p] <== packed;
        }
        for (var f = 0; f < features; f++) {
            valueBits[s][f] = Num2Bits(featureBits);
            valueBits[s][f].in <== values[s][f];
            headroomBits[s][f] = Num2Bits(featureBits);
            headroomBits[s][f].in <== featureMax - featureMin - values[s][f];
        }
        labelBitsCheck[s] = Num2Bits(labelBits);
        labelBitsCheck[s].in <== labels[s];
        labelInRange[s] = LessThan(labelBits + 1);
        labelInRange[s].in[0] <== labels[s];
        labelInRange[s].in[1] <== classes;
        labelInRange[s].out === 1;

        // The record is leaf `index` of the committed tree: the index bits choose, level by
        // level, whether the running hash is the left or the right child.
        for (var l = 0; l < depth; l++) {
            var current = l == 0 ? leaf[s].out : level[s][l - 1].out;
            left[s][l] <== current + indexBits[s].out[l] * (siblings[s][l] - current);
            level[s][l] = Poseidon(2);
            level[s][l].inputs[0] <== left[s][l];
            level[s][l].inputs[1] <== siblings[s][l] + current - left[s][l];
        }
        level[s][depth - 1].out === root;
    }
}
