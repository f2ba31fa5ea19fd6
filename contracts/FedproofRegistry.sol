// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {FedproofCredits} from "./FedproofCredits.sol";

/// @title FedproofRegistry
/// @notice On-chain provenance for fedproof: every federated job, every round's model, the Merkle
/// roots of the round's verified contributions and of the credits its contributors earned, the
/// hash of the round's exact integer aggregate, and disputes that re-verify an anchored
/// contribution's Groth16 proof on chain.
/// A verifier holding only a model file can hash it and walk its ancestry back to the job's
/// initial model through `roundOfModel` and `getRound`.
///
/// Gas design (see contracts/README.md for the measurements):
/// - `anchorRound` costs the same whatever the number of contributors: a round stores Merkle roots,
///   never a per-contributor entry. Writing credits directly into a per-address balance would cost
///   5k-22k gas per contributor per round, so credits are Merkle-claimable instead: each
///   contributor (or anyone on its behalf) claims once per round with a proof, and the claim mints
///   FedproofCredits (ERC-20) to the leaf's account.
/// - Every fresh storage slot costs 22.1k gas, so a round writes three slots only (its model hash
///   by round number, its round root, one packed slot of counters keyed by model hash).
///   The contributions and credits roots share one slot as `roundRoot = hashPair(contributionsRoot,
///   creditsRoot)`: the top of one Merkle tree whose two subtrees are the contributions and the
///   credits. Both subtree roots are still in the `RoundAnchored` event, and so is the round's
///   aggregate hash, which is not stored (a fourth slot would cost another 22.1k): nothing on
///   chain reads it, and the event is as much part of the anchoring transaction as its storage.
/// - A round's parent hash is not stored: the contract enforces that it equals the previous
///   round's model hash (or the job's initial model for round 1), so `getRound` derives it.
///
/// Zero-knowledge: each job pins the hash of its Groth16 verification keys (`vkeyHash`), and its
/// coordinator registers, before the first anchor, one snarkjs-exported verifier contract per
/// circuit (`registerVerifiers`). `dispute` lets anyone re-verify one proof of an anchored
/// contribution: the leaf must be in the round's root, and the proof one of the leaf's chunks.
contract FedproofRegistry is AccessControl {
    // ------------------------------------------------------------------ constants

    bytes32 public constant COORDINATOR_ROLE = keccak256("fedproof.role.coordinator");

    /// Leaves are tagged per kind, so a contribution leaf can never pass as a credit leaf, and are
    /// hashed over at least 96 bytes, so no leaf preimage has the 64-byte shape of an inner node
    /// (which would let an inner node be "claimed" as a leaf). The same encoding lives in
    /// protocol/provenance/merkle.ts.
    bytes32 public constant CONTRIBUTION_LEAF_TAG = keccak256("fedproof.leaf.contribution.v1");
    bytes32 public constant CREDIT_LEAF_TAG = keccak256("fedproof.leaf.credit.v1");

    /// Gas handed to a Groth16 verifier in a dispute: a fixed base plus a fixed amount per public
    /// signal (one ecMul and one ecAdd each, 6.15k), never an estimate. snarkjs's verifier returns
    /// false, instead of reverting, when a precompile runs out of gas, and `eth_estimateGas` finds
    /// the smallest gas limit under which the transaction does not revert (~33k estimated against
    /// ~221k used): a disputer sending an estimated or a chosen low limit could otherwise make a
    /// valid proof read as invalid. The base covers the 4-pairing check (181k) with margin.
    uint256 public constant VERIFIER_GAS_BASE = 300_000;
    uint256 public constant VERIFIER_GAS_PER_SIGNAL = 10_000;

    // ------------------------------------------------------------------ types

    struct Job {
        bytes32 specHash;
        bytes32 initialModelHash;
        /// Hash of the Groth16 verification keys every contribution of this job is proven against;
        /// zero when the job runs without proofs.
        bytes32 vkeyHash;
        address coordinator;
        /// Lets readers start event queries at the job's first block instead of genesis.
        uint64 registeredBlock;
    }

    /// What a round stores, keyed by its model hash so that an ancestry walk needs one read per
    /// round. Counters share one slot: uint32 job ids and rounds are far beyond any real use, and
    /// uint96 credits hold 7.9e28 units.
    struct Anchor {
        /// hashPair(contributionsRoot, creditsRoot).
        bytes32 roundRoot;
        uint32 jobId;
        uint32 round;
        uint32 contributors;
        uint64 epsilonMicro;
        uint96 totalCredits;
    }

    /// The ABI shape of a round, parent hash included.
    struct RoundView {
        bytes32 modelHash;
        bytes32 parentHash;
        bytes32 roundRoot;
        uint32 contributors;
        uint96 totalCredits;
        uint64 epsilonMicro;
        uint256 claimedCredits;
    }

    /// The contribution leaf of a dispute, with the chunk hashes its proofHash is made of:
    /// proofHash = keccak256(abi.encode(chunkHashes, kzgCommitmentsHash)).
    struct DisputedLeaf {
        bytes32 deviceId;
        bytes32 commitment;
        uint256 weight;
        bytes32[] chunkHashes;
        bytes32 kzgCommitmentsHash;
    }

    /// One Groth16 proof of the leaf, `b` in the Solidity verifier's order (each G2 coordinate
    /// pair swapped against snarkjs's JSON): chunkHashes[index] must be
    /// keccak256(abi.encode(circuitIdHash, a, b, c, publicSignals)).
    struct DisputedProof {
        uint256 index;
        bytes32 circuitIdHash;
        uint256[2] a;
        uint256[2][2] b;
        uint256[2] c;
        uint256[] publicSignals;
    }

    // ------------------------------------------------------------------ storage

    /// Counted so that the last admin cannot leave, which would freeze role management forever.
    uint256 private _adminCount;

    /// The ERC-20 that claims mint; deployed by this constructor, which makes it the only minter.
    FedproofCredits public immutable creditToken;

    uint256 private _jobCount;
    mapping(uint256 jobId => Job) private _jobs;
    /// First job registered with a given initial model; several jobs may start from the same one.
    mapping(bytes32 initialModelHash => uint256 jobId) private _jobOfInitialModel;

    /// Model hash of (jobId, round), keyed by `_roundKey`.
    mapping(uint256 roundKey => bytes32 modelHash) private _modelAt;
    mapping(bytes32 modelHash => Anchor) private _anchors;

    mapping(uint256 roundKey => uint256 claimed) private _claimedCredits;
    mapping(uint256 roundKey => mapping(address account => bool)) private _hasClaimed;

    /// Groth16 verifier per job and circuit (keccak256 of the circuit id).
    mapping(uint256 jobId => mapping(bytes32 circuitIdHash => address verifier)) private _verifiers;

    // ------------------------------------------------------------------ events

    event JobRegistered(
        uint256 indexed jobId,
        bytes32 indexed initialModelHash,
        address indexed coordinator,
        bytes32 specHash,
        bytes32 vkeyHash
    );

    event VerifierRegistered(uint256 indexed jobId, bytes32 indexed circuitIdHash, address verifier);

    event RoundAnchored(
        uint256 indexed jobId,
        uint32 indexed round,
        bytes32 indexed modelHash,
        bytes32 parentHash,
        bytes32 contributionsRoot,
        bytes32 creditsRoot,
        uint32 contributors,
        uint96 totalCredits,
        uint64 epsilonMicro,
        bytes32 aggregateHash
    );

    event CreditsClaimed(
        uint256 indexed jobId, uint32 indexed round, address indexed account, uint256 amount
    );

    /// A proof of an anchored contribution was re-verified on chain; `proofValid` false means the
    /// coordinator anchored a contribution whose proof does not verify.
    event ContributionDisputed(
        uint256 indexed jobId,
        uint32 indexed round,
        bytes32 indexed deviceId,
        uint256 proofIndex,
        bool proofValid,
        address disputer
    );

    // ------------------------------------------------------------------ errors

    error FedproofRegistry__ZeroAddress();
    error FedproofRegistry__LastAdmin();
    error FedproofRegistry__ZeroHash();
    error FedproofRegistry__UnknownJob(uint256 jobId);
    error FedproofRegistry__RoundAlreadyAnchored(uint256 jobId, uint32 round);
    error FedproofRegistry__RoundOutOfOrder(uint256 jobId, uint32 round);
    error FedproofRegistry__ParentMismatch(uint256 jobId, uint32 round, bytes32 expected, bytes32 actual);
    error FedproofRegistry__ModelAlreadyAnchored(bytes32 modelHash, uint256 jobId, uint32 round);
    error FedproofRegistry__RoundNotAnchored(uint256 jobId, uint32 round);
    error FedproofRegistry__AlreadyClaimed(uint256 jobId, uint32 round, address account);
    error FedproofRegistry__InvalidCreditProof(uint256 jobId, uint32 round, address account);
    error FedproofRegistry__CreditsExceedTotal(uint256 jobId, uint32 round);
    error FedproofRegistry__NotJobCoordinator(uint256 jobId, address account);
    error FedproofRegistry__VerifiersLocked(uint256 jobId);
    error FedproofRegistry__VerifierAlreadySet(uint256 jobId, bytes32 circuitIdHash);
    error FedproofRegistry__NotAContract(address verifier);
    error FedproofRegistry__LengthMismatch();
    error FedproofRegistry__NoVerifier(uint256 jobId, bytes32 circuitIdHash);
    error FedproofRegistry__ContributionNotAnchored(uint256 jobId, uint32 round);
    error FedproofRegistry__ProofIndexOutOfRange(uint256 index, uint256 proofs);
    error FedproofRegistry__InsufficientGas(uint256 needed, uint256 available);
    error FedproofRegistry__VerifierCallFailed(address verifier);

    // ------------------------------------------------------------------ roles

    /// @param admin holds DEFAULT_ADMIN_ROLE: grants and revokes coordinators and admins.
    /// @param coordinator gets COORDINATOR_ROLE; zero lets the admin grant it later, from another key.
    constructor(address admin, address coordinator) {
        if (admin == address(0)) revert FedproofRegistry__ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        if (coordinator != address(0)) _grantRole(COORDINATOR_ROLE, coordinator);
        creditToken = new FedproofCredits();
    }

    /// OpenZeppelin lets the last admin renounce or be revoked, which would freeze role
    /// management for ever; one counter keeps at least one.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (granted && role == DEFAULT_ADMIN_ROLE) ++_adminCount;
    }

    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        if (role == DEFAULT_ADMIN_ROLE && hasRole(role, account)) {
            if (_adminCount == 1) revert FedproofRegistry__LastAdmin();
            --_adminCount;
        }
        revoked = super._revokeRole(role, account);
    }

    // ------------------------------------------------------------------ jobs

    /// @return jobId starts at 1, so that 0 means "no job" in every view.
    function registerJob(bytes32 specHash, bytes32 initialModelHash, bytes32 vkeyHash)
        external
        onlyRole(COORDINATOR_ROLE)
        returns (uint256 jobId)
    {
        // Zero is the "absent" value of every lookup; a zero model hash would be indistinguishable.
        if (specHash == bytes32(0) || initialModelHash == bytes32(0)) revert FedproofRegistry__ZeroHash();
        jobId = ++_jobCount;
        // Anchors pack the job id in 32 bits; four billion jobs are out of reach, but never wrap.
        if (jobId > type(uint32).max) revert FedproofRegistry__UnknownJob(jobId);
        _jobs[jobId] = Job({
            specHash: specHash,
            initialModelHash: initialModelHash,
            vkeyHash: vkeyHash,
            coordinator: msg.sender,
            registeredBlock: uint64(block.number)
        });
        if (_jobOfInitialModel[initialModelHash] == 0) _jobOfInitialModel[initialModelHash] = jobId;
        emit JobRegistered(jobId, initialModelHash, msg.sender, specHash, vkeyHash);
    }

    /// Names the Groth16 verifier of each of the job's circuits, once per circuit and only before
    /// round 1 is anchored: a verifier swapped after contributions were anchored could turn
    /// disputes about them either way.
    /// @param circuitIdHashes keccak256 of each circuit id, as the chunk hashes carry it.
    function registerVerifiers(uint256 jobId, bytes32[] calldata circuitIdHashes, address[] calldata verifiers)
        external
        onlyRole(COORDINATOR_ROLE)
    {
        Job storage job = _jobs[jobId];
        if (job.initialModelHash == bytes32(0)) revert FedproofRegistry__UnknownJob(jobId);
        if (job.coordinator != msg.sender) revert FedproofRegistry__NotJobCoordinator(jobId, msg.sender);
        if (_modelAt[_roundKey(jobId, 1)] != bytes32(0)) revert FedproofRegistry__VerifiersLocked(jobId);
        if (circuitIdHashes.length != verifiers.length) revert FedproofRegistry__LengthMismatch();
        for (uint256 i = 0; i < verifiers.length; ++i) {
            bytes32 circuitIdHash = circuitIdHashes[i];
            address verifier = verifiers[i];
            if (_verifiers[jobId][circuitIdHash] != address(0)) {
                revert FedproofRegistry__VerifierAlreadySet(jobId, circuitIdHash);
            }
            if (verifier.code.length == 0) revert FedproofRegistry__NotAContract(verifier);
            _verifiers[jobId][circuitIdHash] = verifier;
            emit VerifierRegistered(jobId, circuitIdHash, verifier);
        }
    }

    /// @return the verifier registered for the job's circuit, zero when none.
    function verifierOf(uint256 jobId, bytes32 circuitIdHash) external view returns (address) {
        return _verifiers[jobId][circuitIdHash];
    }

    function jobCount() external view returns (uint256) {
        return _jobCount;
    }

    /// @dev Returns an all-zero job for an unknown id.
    function getJob(uint256 jobId) external view returns (Job memory) {
        return _jobs[jobId];
    }

    /// @return jobId of the first job registered with this initial model, 0 if none.
    function jobOfInitialModel(bytes32 modelHash) external view returns (uint256) {
        return _jobOfInitialModel[modelHash];
    }

    function isInitialModel(bytes32 modelHash) external view returns (bool) {
        return _jobOfInitialModel[modelHash] != 0;
    }

    // ------------------------------------------------------------------ rounds

    /// Anchors one aggregated round in a single transaction whatever the number of contributors.
    /// @param parentHash must be the previous round's model hash (the job's initial model for round
    ///        1): the caller states what it aggregated from, so a coordinator that lost track of
    ///        the chain (a stale replica, a replayed job) fails loudly instead of forking history.
    /// @param epsilonMicro privacy budget ε spent by this round, in millionths; 0 without DP.
    /// @param aggregateHash hash of the round's exact integer aggregate; zero when the strategy
    ///        is not linear (the aggregate cannot then be checked without the updates). Emitted in
    ///        `RoundAnchored`, not stored: a fourth fresh slot would cost 22.1k and push the anchor
    ///        over issue 4's 120k, while the event is committed by the block's receipts root and
    ///        no on-chain check reads the hash.
    function anchorRound(
        uint256 jobId,
        uint32 round,
        bytes32 modelHash,
        bytes32 parentHash,
        bytes32 contributionsRoot,
        uint32 contributors,
        bytes32 creditsRoot,
        uint96 totalCredits,
        uint64 epsilonMicro,
        bytes32 aggregateHash
    ) external onlyRole(COORDINATOR_ROLE) {
        uint256 key = _checkAnchorable(jobId, round, modelHash, parentHash);
        _modelAt[key] = modelHash;
        Anchor storage anchor = _anchors[modelHash];
        anchor.roundRoot = Hashes.commutativeKeccak256(contributionsRoot, creditsRoot);
        anchor.jobId = uint32(jobId); // bounded by registerJob, and the parent check proved the job exists
        anchor.round = round;
        anchor.contributors = contributors;
        anchor.epsilonMicro = epsilonMicro;
        anchor.totalCredits = totalCredits;

        emit RoundAnchored(
            jobId,
            round,
            modelHash,
            parentHash,
            contributionsRoot,
            creditsRoot,
            contributors,
            totalCredits,
            epsilonMicro,
            aggregateHash
        );
    }

    /// Every refusal of `anchorRound`, apart so that the anchor's ten arguments fit the stack.
    /// @return key the round's storage key.
    function _checkAnchorable(uint256 jobId, uint32 round, bytes32 modelHash, bytes32 parentHash)
        private
        view
        returns (uint256 key)
    {
        if (modelHash == bytes32(0)) revert FedproofRegistry__ZeroHash();
        if (round == 0) revert FedproofRegistry__RoundOutOfOrder(jobId, round);

        key = _roundKey(jobId, round);
        if (_modelAt[key] != bytes32(0)) revert FedproofRegistry__RoundAlreadyAnchored(jobId, round);

        bytes32 expectedParent;
        if (round == 1) {
            expectedParent = _jobs[jobId].initialModelHash;
            if (expectedParent == bytes32(0)) revert FedproofRegistry__UnknownJob(jobId);
        } else {
            // Anchoring in order keeps every model's ancestry complete: a gap would leave a
            // round whose parent no verifier can find on chain.
            expectedParent = _modelAt[_roundKey(jobId, round - 1)];
            if (expectedParent == bytes32(0)) revert FedproofRegistry__RoundOutOfOrder(jobId, round);
        }
        if (parentHash != expectedParent) {
            revert FedproofRegistry__ParentMismatch(jobId, round, expectedParent, parentHash);
        }

        // A model hash names exactly one round, so that the walk from a model file is unambiguous.
        // This also refuses a round that did not change its parent.
        Anchor storage existing = _anchors[modelHash];
        if (existing.round != 0 || modelHash == parentHash) {
            revert FedproofRegistry__ModelAlreadyAnchored(modelHash, existing.jobId, existing.round);
        }

    }

    /// @dev Returns an all-zero round (modelHash 0) when the round is not anchored. The round's
    ///      contributions and credits roots and its aggregate hash are in its `RoundAnchored` event.
    function getRound(uint256 jobId, uint32 round) public view returns (RoundView memory view_) {
        uint256 key = _roundKey(jobId, round);
        bytes32 modelHash = _modelAt[key];
        if (modelHash == bytes32(0)) return view_;
        Anchor storage anchor = _anchors[modelHash];
        view_.modelHash = modelHash;
        view_.parentHash =
            round == 1 ? _jobs[jobId].initialModelHash : _modelAt[_roundKey(jobId, round - 1)];
        view_.roundRoot = anchor.roundRoot;
        view_.contributors = anchor.contributors;
        view_.totalCredits = anchor.totalCredits;
        view_.epsilonMicro = anchor.epsilonMicro;
        view_.claimedCredits = _claimedCredits[key];
    }

    /// @return jobId 0 (and round 0) when no round produced this model.
    function roundOfModel(bytes32 modelHash) external view returns (uint256 jobId, uint32 round) {
        Anchor storage anchor = _anchors[modelHash];
        return (anchor.jobId, anchor.round);
    }

    function isRoundAnchored(uint256 jobId, uint32 round) external view returns (bool) {
        return _modelAt[_roundKey(jobId, round)] != bytes32(0);
    }

    /// One keccak instead of a nested mapping's two: rounds fit in 32 bits, so the pair is unique.
    function _roundKey(uint256 jobId, uint32 round) private pure returns (uint256) {
        return (jobId << 32) | round;
    }

    // ------------------------------------------------------------------ credits

    /// Mints `amount` credits (FPC) to `account` for one round, once. Anyone may submit the claim
    /// (a device usually holds no gas money; the coordinator or a relayer can pay), but the credit
    /// only ever goes to the account named in the Merkle leaf.
    /// @param proof the leaf's proof in the credits tree, then the round's contributions root.
    function claimCredits(
        uint256 jobId,
        uint32 round,
        address account,
        uint256 amount,
        bytes32[] calldata proof
    ) external {
        uint256 key = _roundKey(jobId, round);
        bytes32 modelHash = _modelAt[key];
        if (modelHash == bytes32(0)) revert FedproofRegistry__RoundNotAnchored(jobId, round);
        if (_hasClaimed[key][account]) revert FedproofRegistry__AlreadyClaimed(jobId, round, account);

        Anchor storage anchor = _anchors[modelHash];
        if (!MerkleProof.verifyCalldata(proof, anchor.roundRoot, creditLeaf(account, amount))) {
            revert FedproofRegistry__InvalidCreditProof(jobId, round, account);
        }
        // The anchored total caps what a round can ever mint, even from a malformed credits tree.
        uint256 claimed = _claimedCredits[key] + amount;
        if (claimed > anchor.totalCredits) revert FedproofRegistry__CreditsExceedTotal(jobId, round);

        _claimedCredits[key] = claimed;
        _hasClaimed[key][account] = true;
        emit CreditsClaimed(jobId, round, account, amount);
        creditToken.mint(account, amount);
    }

    /// The account's credit balance: its FPC balance (credits can be transferred like any token).
    function creditsOf(address account) external view returns (uint256) {
        return creditToken.balanceOf(account);
    }

    function hasClaimed(uint256 jobId, uint32 round, address account) external view returns (bool) {
        return _hasClaimed[_roundKey(jobId, round)][account];
    }

    // ------------------------------------------------------------------ disputes

    /// Re-verifies proof `proof.index` of an anchored contribution on chain, and records the
    /// verdict in `ContributionDisputed`. Anyone may call it. Reverts with
    /// `ContributionNotAnchored` unless the proof is the leaf's chunk and the leaf is in the
    /// round's root, so only what the coordinator anchored can be disputed.
    /// @param merkleProof the leaf's proof in the contributions tree, then the round's credits root.
    function dispute(
        uint256 jobId,
        uint32 round,
        DisputedLeaf calldata leaf,
        bytes32[] calldata merkleProof,
        DisputedProof calldata proof
    ) external returns (bool proofValid) {
        bytes32 modelHash = _modelAt[_roundKey(jobId, round)];
        if (modelHash == bytes32(0)) revert FedproofRegistry__RoundNotAnchored(jobId, round);
        if (proof.index >= leaf.chunkHashes.length) {
            revert FedproofRegistry__ProofIndexOutOfRange(proof.index, leaf.chunkHashes.length);
        }
        bytes32 chunk =
            keccak256(abi.encode(proof.circuitIdHash, proof.a, proof.b, proof.c, proof.publicSignals));
        bytes32 proofHash = keccak256(abi.encode(leaf.chunkHashes, leaf.kzgCommitmentsHash));
        bytes32 contribution = contributionLeaf(leaf.deviceId, leaf.commitment, proofHash, leaf.weight);
        if (
            chunk != leaf.chunkHashes[proof.index]
                || !MerkleProof.verifyCalldata(merkleProof, _anchors[modelHash].roundRoot, contribution)
        ) {
            revert FedproofRegistry__ContributionNotAnchored(jobId, round);
        }

        address verifier = _verifiers[jobId][proof.circuitIdHash];
        if (verifier == address(0)) revert FedproofRegistry__NoVerifier(jobId, proof.circuitIdHash);
        proofValid = _callVerifier(verifier, proof);
        emit ContributionDisputed(jobId, round, leaf.deviceId, proof.index, proofValid, msg.sender);
    }

    /// Gas a dispute hands the verifier for a proof with `signals` public signals.
    function verifierGas(uint256 signals) public pure returns (uint256) {
        return VERIFIER_GAS_BASE + VERIFIER_GAS_PER_SIGNAL * signals;
    }

    /// Calls snarkjs's `verifyProof(uint[2],uint[2][2],uint[2],uint[N])` (N fixed per circuit, so
    /// the selector depends on it) with a fixed gas stipend. The caller must leave enough gas
    /// that the 63/64 rule still forwards the whole stipend; a call that reverts or answers
    /// anything but one 32-byte word is not a verdict, and reverts the dispute.
    function _callVerifier(address verifier, DisputedProof calldata proof) private view returns (bool) {
        uint256 signals = proof.publicSignals.length;
        bytes4 selector = bytes4(
            keccak256(
                abi.encodePacked(
                    "verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[", Strings.toString(signals), "])"
                )
            )
        );
        bytes memory data =
            abi.encodePacked(selector, abi.encode(proof.a, proof.b, proof.c), abi.encodePacked(proof.publicSignals));
        uint256 stipend = verifierGas(signals);
        // After this check, the call below forwards the full stipend: at most 1/64 of what is left
        // is withheld, and 2 000 gas cover the call's own cost.
        uint256 needed = stipend + stipend / 63 + 2_000;
        if (gasleft() < needed) revert FedproofRegistry__InsufficientGas(needed, gasleft());
        (bool ok, bytes memory answer) = verifier.staticcall{gas: stipend}(data);
        if (!ok || answer.length != 32) revert FedproofRegistry__VerifierCallFailed(verifier);
        return abi.decode(answer, (uint256)) == 1;
    }

    // ------------------------------------------------------------------ Merkle

    function creditLeaf(address account, uint256 amount) public pure returns (bytes32) {
        return keccak256(abi.encode(CREDIT_LEAF_TAG, account, amount));
    }

    /// @param deviceId 32-byte device identifier (hash of its id and enrolled public key).
    /// @param commitment Poseidon commitment to the device's quantised update (a field element).
    /// @param proofHash keccak256(abi.encode(bytes32[] chunkHashes, bytes32 kzgCommitmentsHash)).
    /// @param weight aggregation weight (e.g. sample count) the round gave this update.
    function contributionLeaf(bytes32 deviceId, bytes32 commitment, bytes32 proofHash, uint256 weight)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(CONTRIBUTION_LEAF_TAG, deviceId, commitment, proofHash, weight));
    }

    /// Whether a contribution is part of an anchored round.
    /// @param proof the leaf's proof in the contributions tree, then the round's credits root.
    function verifyContribution(
        uint256 jobId,
        uint32 round,
        bytes32 deviceId,
        bytes32 commitment,
        bytes32 proofHash,
        uint256 weight,
        bytes32[] calldata proof
    ) external view returns (bool) {
        bytes32 modelHash = _modelAt[_roundKey(jobId, round)];
        if (modelHash == bytes32(0)) return false;
        return MerkleProof.verifyCalldata(
            proof, _anchors[modelHash].roundRoot, contributionLeaf(deviceId, commitment, proofHash, weight)
        );
    }

    /// Sorted-pair hashing (OpenZeppelin's commutative keccak, as MerkleProof uses): each inner
    /// node is keccak256(min(a, b) ‖ max(a, b)), so a proof is the list of siblings bottom-up.
    function roundRootOf(bytes32 contributionsRoot, bytes32 creditsRoot) external pure returns (bytes32) {
        return Hashes.commutativeKeccak256(contributionsRoot, creditsRoot);
    }
}
