pragma circom 2.1.0;

include "bitify.circom";
include "comparators.circom";
include "eddsaposeidon.circom";
include "poseidon.circom";
include "poseidon-sponge.circom";

// The device trained on data it committed to before the round, that it holds enough of,
// that looks like the job's schema where the round's challenge samples it — and, when the
// job names a set of attesters (sensors, data providers), that one of them vouched for it.
//
// - datasetCommitment = Poseidon(root, sampleCount), root a Poseidon Merkle tree of depth
//   `depth` over the records (unused leaves 0), registered at enrolment and signed with the
//   device's Baby Jubjub EdDSA-Poseidon key.
// - k = `samples` records at indices derived from `context` open against the root and lie in
//   the schema.
// - Attested mode (attesterRoot ≠ 0): an attester whose key (Ax, Ay) is a leaf
//   Poseidon(Ax, Ay) of the job's attester tree (depth `attesterDepth`, root attesterRoot)
//   signed the same datasetCommitment. Which attester signed stays private.
//   Self-attested mode (attesterRoot = 0): only the device's own signature is checked.
//   attesterDepth = 0 compiles no attester check at all and admits only attesterRoot = 0.
// - nullifier = Poseidon(jobScope, root, sampleCount): one value per (job, dataset).
//
// The dataset is committed at enrolment, before any round exists, and the indices come from
// the round's context (job, round, global model hash, device), so a device cannot pick which
// records get checked. What the proof cannot show is that records are real observations:
// only that the committed ones are well formed where sampled, and, in attested mode, that a
// known attester signed exactly this root and this count.
//
// Records are stored relative to the schema minimum: value = feature − featureMin in the
// job's integer feature units, so a range check of `featureBits` bits is also the packing
// for the leaf hash.
//
// Public signals (all inputs, in this order; protocol/proofs/public-signals.ts decodes them):
//   0 context, 1 datasetCommitment, 2 sampleCount, 3 minSamples, 4 featureMin, 5 featureMax,
//   6 classes, 7 publicKeyX, 8 publicKeyY, 9 attesterRoot, 10 jobScope, 11 nullifier.
// New signals are appended, never inserted, so readers of the first nine keep their indices.
// The nullifier is a public input constrained to its hash rather than an output: snarkjs
// puts outputs first, which would shift every earlier index.
template DataValidity(depth, features, samples, featureBits, labelBits, attesterDepth) {
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
    signal input attesterRoot;
    signal input jobScope;
    signal input nullifier;

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
    // device registered; inside the circuit the signature stays private. In attested mode
    // this still matters: it binds the attested dataset to the device that enrolled with it.
    component signature = EdDSAPoseidonVerifier();
    signature.enabled <== 1;
    signature.Ax <== publicKeyX;
    signature.Ay <== publicKeyY;
    signature.S <== signatureS;
    signature.R8x <== signatureR8x;
    signature.R8y <== signatureR8y;
    signature.M <== datasetCommitment;

    // One nullifier per (job, dataset). It is derived from the dataset and not from the device
    // key because keys are free: a sybil holding one attested dataset can enrol it under any
    // number of fresh keys, and a key-derived value would differ for each. Root and count are
    // what the attester fixed, so every enrolment of that dataset in this job shows the same
    // nullifier and the coordinator admits one. jobScope keys it per job, so the value itself
    // does not repeat across jobs. Poseidon(3) also separates it from the 2-input commitment.
    component nullifierHash = Poseidon(3);
    nullifierHash.inputs[0] <== jobScope;
    nullifierHash.inputs[1] <== root;
    nullifierHash.inputs[2] <== sampleCount;
    nullifierHash.out === nullifier;

    if (attesterDepth > 0) {
        signal input attesterKeyX;
        signal input attesterKeyY;
        signal input attesterSignatureR8x;
        signal input attesterSignatureR8y;
        signal input attesterSignatureS;
        signal input attesterIndex;
        signal input attesterSiblings[attesterDepth];

        // The mode is a function of the public attesterRoot alone, never of a private flag.
        // A private "attested" bit would let a prover switch the checks off while the
        // verifier still sees the job's root among the public signals. Here, a proof whose
        // public attesterRoot is the job's (non-zero) root has attested = 1 forced by IsZero,
        // and a proof that skips the checks must show attesterRoot = 0 — which a verifier of a
        // job with attesters refuses. (A real tree root is a Poseidon output; it is 0 with
        // negligible probability.)
        component selfAttested = IsZero();
        selfAttested.in <== attesterRoot;
        signal attested <== 1 - selfAttested.out;

        // The attester signed the same commitment, so root and count are the attested ones:
        // padding the dataset with extra records changes the root and voids the signature.
        // When disabled the verifier's internal constraints still hold for the witness the
        // device fills in (its own key and signature), only the final equalities are off.
        component attestation = EdDSAPoseidonVerifier();
        attestation.enabled <== attested;
        attestation.Ax <== attesterKeyX;
        attestation.Ay <== attesterKeyY;
        attestation.S <== attesterSignatureS;
        attestation.R8x <== attesterSignatureR8x;
        attestation.R8y <== attesterSignatureR8y;
        attestation.M <== datasetCommitment;

        // The attester's key is leaf `attesterIndex` of the job's attester tree.
        component attesterLeaf = Poseidon(2);
        attesterLeaf.inputs[0] <== attesterKeyX;
        attesterLeaf.inputs[1] <== attesterKeyY;
        component attesterIndexBits = Num2Bits(attesterDepth);
        attesterIndexBits.in <== attesterIndex;
        component attesterLevel[attesterDepth];
        signal attesterLeft[attesterDepth];
        for (var l = 0; l < attesterDepth; l++) {
            var current = l == 0 ? attesterLeaf.out : attesterLevel[l - 1].out;
            attesterLeft[l] <== current + attesterIndexBits.out[l] * (attesterSiblings[l] - current);
            attesterLevel[l] = Poseidon(2);
            attesterLevel[l].inputs[0] <== attesterLeft[l];
            attesterLevel[l].inputs[1] <== attesterSiblings[l] + current - attesterLeft[l];
        }
        // Conditional root equality: in attested mode the path must end at the public root.
        attested * (attesterLevel[attesterDepth - 1].out - attesterRoot) === 0;
    } else {
        // No attester check compiled: this circuit can only claim self-attested data. The
        // square keeps the constraint quadratic, so the optimiser cannot fold the public
        // input away.
        attesterRoot * attesterRoot === 0;
    }

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
        // holds over the integers and index is exactly the remainder. The k indices are drawn
        // independently (with replacement): a dataset with a fraction f of bad records passes
        // with probability (1 − f)^k (protocol/proving/spot-check.ts).
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
