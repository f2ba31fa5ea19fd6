pragma circom 2.1.0;

include "poseidon.circom";

// Poseidon sponge for inputs longer than circomlib's 16: width 17, rate 16, capacity 1.
// The capacity starts at the input length (length domain separation) and the last block is
// zero-padded; the length is a template parameter, so padding is unambiguous. Inputs are
// added into the rate part of the state, as in any sponge, so absorbing costs no constraints
// beyond the permutations (612 each). Mirrors `poseidonSponge` in
// protocol/proving/poseidon.ts.
template PoseidonSponge(m) {
    signal input in[m];
    signal output out;

    var RATE = 16;
    var BLOCKS = (m + RATE - 1) \ RATE;
    component permutation[BLOCKS];
    for (var b = 0; b < BLOCKS; b++) {
        permutation[b] = PoseidonEx(RATE, RATE + 1);
        if (b == 0) {
            permutation[b].initialState <== m;
        } else {
            permutation[b].initialState <== permutation[b - 1].out[0];
        }
        for (var j = 0; j < RATE; j++) {
            var index = b * RATE + j;
            var absorbed = 0;
            if (index < m) {
                absorbed = in[index];
            }
            if (b == 0) {
                permutation[b].inputs[j] <== absorbed;
            } else {
                permutation[b].inputs[j] <== permutation[b - 1].out[j + 1] + absorbed;
            }
        }
    }
    out <== permutation[BLOCKS - 1].out[0];
}

// circomlib's Poseidon for up to 16 inputs (one permutation of the smallest width that fits),
// the sponge beyond. Mirrors `hashElements` in protocol/proving/poseidon.ts.
template HashElements(m) {
    signal input in[m];
    signal output out;

    if (m <= 16) {
        component hash = Poseidon(m);
        for (var i = 0; i < m; i++) {
            hash.inputs[i] <== in[i];
        }
        out <== hash.out;
    } else {
        component sponge = PoseidonSponge(m);
        for (var i = 0; i < m; i++) {
            sponge.in[i] <== in[i];
        }
        out <== sponge.out;
    }
}
