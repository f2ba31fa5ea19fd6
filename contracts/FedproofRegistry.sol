// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title FedproofRegistry
/// @notice On-chain provenance for fedproof: every federated job, every round's model, the Merkle
/// roots of the round's verified contributions and of the credits its contributors earned.
/// A verifier holding only a model file can hash it and walk its ancestry back to the job's
/// initial model through `roundOfModel` and `getRound`.
///
/// Gas design (see contracts/README.md for the measurements; target ≤ 120k per anchor):
/// - `anchorRound` costs the same whatever the number of contributors: a round stores Merkle roots,
///   never a per-contributor entry. Writing credits directly into a per-address mapping would cost
///   5k-22k gas per contributor per round (≈ 2.2M gas for 100 new contributors), so credits are
///   Merkle-claimable instead: each contributor (or anyone on its behalf) claims once per round
///   with a proof, and `creditsOf` accumulates on claim. The cost moves to the party that wants the
///   credit and is paid at most once per (round, account).
/// - Every fresh storage slot costs 22.1k gas, so a round writes exactly three: its model hash by
///   round number, its round root, and one packed slot (job, round, counters) keyed by model hash.
///   That is the floor for "readable by round number and by model hash". Storing the
///   contributions and credits roots in two slots would cost 123k per anchor (measured), so the
///   round stores `roundRoot = hashPair(contributionsRoot, creditsRoot)`: the top of one Merkle
///   tree whose two subtrees are the contributions and the credits. Both subtree roots are still
///   in the `RoundAnchored` event, and a proof into either subtree is that subtree's proof plus
///   the other subtree's root as the last sibling.
/// - A round's parent hash is not stored: the contract enforces that it equals the previous
///   round's model hash (or the job's initial model for round 1), so `getRound` derives it.
///
/// Zero-knowledge hook: each job pins the hash of its Groth16 verification key (`vkeyHash`). The
/// snarkjs-exported verifier is deployed separately; a dispute resolver can prove a contribution's
/// inclusion with `verifyContribution` and re-run its proof against the verifier whose key hash
/// matches the job. The registry itself never verifies proofs: one pairing check costs ~221k gas,
/// more than a whole round's anchor.
contract FedproofRegistry {
    // ------------------------------------------------------------------ constants

    bytes32 public constant ADMIN_ROLE = keccak256("fedproof.role.admin");
    bytes32 public constant COORDINATOR_ROLE = keccak256("fedproof.role.coordinator");

    /// Leaves are tagged per kind, so a contribution leaf can never pass as a credit leaf, and are
    /// hashed over at least 96 bytes, so no leaf preimage has the 64-byte shape of an inner node
    /// (which would let an inner node be "claimed" as a leaf). The same encoding lives in
    /// protocol/provenance/merkle.ts.
    bytes32 public constant CONTRIBUTION_LEAF_TAG = keccak256("fedproof.leaf.contribution.v1");
    bytes32 public constant CREDIT_LEAF_TAG = keccak256("fedproof.leaf.credit.v1");

    // ------------------------------------------------------------------ types

    struct Job {
        bytes32 specHash;
        bytes32 initialModelHash;
        /// Hash of the Groth16 verification key every contribution of this job is proven against;
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

    // ------------------------------------------------------------------ storage

    mapping(bytes32 role => mapping(address account => bool)) private _roles;
    /// Counted so that the last admin cannot leave, which would freeze role management forever.
    uint256 private _adminCount;

    uint256 private _jobCount;
    mapping(uint256 jobId => Job) private _jobs;
    /// First job registered with a given initial model; several jobs may start from the same one.
    mapping(bytes32 initialModelHash => uint256 jobId) private _jobOfInitialModel;

    /// Model hash of (jobId, round), keyed by `_roundKey`.
    mapping(uint256 roundKey => bytes32 modelHash) private _modelAt;
    mapping(bytes32 modelHash => Anchor) private _anchors;

    mapping(uint256 roundKey => uint256 claimed) private _claimedCredits;
    mapping(uint256 roundKey => mapping(address account => bool)) private _hasClaimed;
    mapping(address account => uint256 credits) private _credits;

    // ------------------------------------------------------------------ events

    event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender);
    event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender);

    event JobRegistered(
        uint256 indexed jobId,
        bytes32 indexed initialModelHash,
        address indexed coordinator,
        bytes32 specHash,
        bytes32 vkeyHash
    );

    event RoundAnchored(
        uint256 indexed jobId,
        uint32 indexed round,
        bytes32 indexed modelHash,
        bytes32 parentHash,
        bytes32 contributionsRoot,
        bytes32 creditsRoot,
        uint32 contributors,
        uint96 totalCredits,
        uint64 epsilonMicro
    );

    event CreditsClaimed(
        uint256 indexed jobId, uint32 indexed round, address indexed account, uint256 amount
    );

    // ------------------------------------------------------------------ errors

    error FedproofRegistry__NotAdmin(address account);
    error FedproofRegistry__NotCoordinator(address account);
    error FedproofRegistry__UnknownRole(bytes32 role);
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

    // ------------------------------------------------------------------ roles

    constructor(address admin, address coordinator) {
        if (admin == address(0)) revert FedproofRegistry__ZeroAddress();
        _grant(ADMIN_ROLE, admin);
        // A zero coordinator lets the admin grant the role later, from another key.
        if (coordinator != address(0)) _grant(COORDINATOR_ROLE, coordinator);
    }

    modifier onlyAdmin() {
        if (!_roles[ADMIN_ROLE][msg.sender]) revert FedproofRegistry__NotAdmin(msg.sender);
        _;
    }

    modifier onlyCoordinator() {
        if (!_roles[COORDINATOR_ROLE][msg.sender]) revert FedproofRegistry__NotCoordinator(msg.sender);
        _;
    }

    function hasRole(bytes32 role, address account) external view returns (bool) {
        return _roles[role][account];
    }

    function grantRole(bytes32 role, address account) external onlyAdmin {
        _requireKnownRole(role);
        if (account == address(0)) revert FedproofRegistry__ZeroAddress();
        _grant(role, account);
    }

    function revokeRole(bytes32 role, address account) external onlyAdmin {
        _requireKnownRole(role);
        _revoke(role, account);
    }

    /// Lets a key drop its own role, e.g. a coordinator key believed compromised.
    function renounceRole(bytes32 role) external {
        _requireKnownRole(role);
        _revoke(role, msg.sender);
    }

    function _requireKnownRole(bytes32 role) private pure {
        if (role != ADMIN_ROLE && role != COORDINATOR_ROLE) revert FedproofRegistry__UnknownRole(role);
    }

    function _grant(bytes32 role, address account) private {
        if (_roles[role][account]) return;
        _roles[role][account] = true;
        if (role == ADMIN_ROLE) ++_adminCount;
        emit RoleGranted(role, account, msg.sender);
    }

    function _revoke(bytes32 role, address account) private {
        if (!_roles[role][account]) return;
        if (role == ADMIN_ROLE) {
            if (_adminCount == 1) revert FedproofRegistry__LastAdmin();
            --_adminCount;
        }
        _roles[role][account] = false;
        emit RoleRevoked(role, account, msg.sender);
    }

    // ------------------------------------------------------------------ jobs

    /// @return jobId starts at 1, so that 0 means "no job" in every view.
    function registerJob(bytes32 specHash, bytes32 initialModelHash, bytes32 vkeyHash)
        external
        onlyCoordinator
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
    function anchorRound(
        uint256 jobId,
        uint32 round,
        bytes32 modelHash,
        bytes32 parentHash,
        bytes32 contributionsRoot,
        uint32 contributors,
        bytes32 creditsRoot,
        uint96 totalCredits,
        uint64 epsilonMicro
    ) external onlyCoordinator {
        if (modelHash == bytes32(0)) revert FedproofRegistry__ZeroHash();
        if (round == 0) revert FedproofRegistry__RoundOutOfOrder(jobId, round);

        uint256 key = _roundKey(jobId, round);
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
        Anchor storage anchor = _anchors[modelHash];
        if (anchor.round != 0 || modelHash == parentHash) {
            revert FedproofRegistry__ModelAlreadyAnchored(modelHash, anchor.jobId, anchor.round);
        }

        _modelAt[key] = modelHash;
        _anchors[modelHash] = Anchor({
            roundRoot: _hashPair(contributionsRoot, creditsRoot),
            jobId: uint32(jobId), // bounded by registerJob, and the parent check proved the job exists
            round: round,
            contributors: contributors,
            epsilonMicro: epsilonMicro,
            totalCredits: totalCredits
        });

        emit RoundAnchored(
            jobId,
            round,
            modelHash,
            parentHash,
            contributionsRoot,
            creditsRoot,
            contributors,
            totalCredits,
            epsilonMicro
        );
    }

    /// @dev Returns an all-zero round (modelHash 0) when the round is not anchored.
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

    /// Credits `amount` to `account` for one round, once. Anyone may submit the claim (a device
    /// usually holds no gas money; the coordinator or a relayer can pay), but the credit only ever
    /// goes to the account named in the Merkle leaf.
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
        if (!_verify(proof, anchor.roundRoot, creditLeaf(account, amount))) {
            revert FedproofRegistry__InvalidCreditProof(jobId, round, account);
        }
        // The anchored total caps what a round can ever mint, even from a malformed credits tree.
        uint256 claimed = _claimedCredits[key] + amount;
        if (claimed > anchor.totalCredits) revert FedproofRegistry__CreditsExceedTotal(jobId, round);

        _claimedCredits[key] = claimed;
        _hasClaimed[key][account] = true;
        _credits[account] += amount;
        emit CreditsClaimed(jobId, round, account, amount);
    }

    function creditsOf(address account) external view returns (uint256) {
        return _credits[account];
    }

    function hasClaimed(uint256 jobId, uint32 round, address account) external view returns (bool) {
        return _hasClaimed[_roundKey(jobId, round)][account];
    }

    // ------------------------------------------------------------------ Merkle

    function creditLeaf(address account, uint256 amount) public pure returns (bytes32) {
        return keccak256(abi.encode(CREDIT_LEAF_TAG, account, amount));
    }

    /// @param deviceId 32-byte device identifier (hash of its public key, or its address padded).
    /// @param commitment Poseidon commitment to the device's quantised update (a field element).
    /// @param proofHash hash of the device's Groth16 proof and public signals.
    /// @param weight aggregation weight (e.g. sample count) the round gave this update.
    function contributionLeaf(bytes32 deviceId, bytes32 commitment, bytes32 proofHash, uint256 weight)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(CONTRIBUTION_LEAF_TAG, deviceId, commitment, proofHash, weight));
    }

    /// Whether a contribution is part of an anchored round: the first half of a dispute (the
    /// second is re-running its proof against the verifier pinned by the job's `vkeyHash`).
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
        return _verify(
            proof, _anchors[modelHash].roundRoot, contributionLeaf(deviceId, commitment, proofHash, weight)
        );
    }

    function roundRootOf(bytes32 contributionsRoot, bytes32 creditsRoot) external pure returns (bytes32) {
        return _hashPair(contributionsRoot, creditsRoot);
    }

    /// Sorted-pair hashing: each inner node is keccak256(min(a, b) ‖ max(a, b)), so a proof is the
    /// list of siblings bottom-up and carries no left/right bits.
    function _verify(bytes32[] calldata proof, bytes32 root, bytes32 leaf) private pure returns (bool) {
        bytes32 node = leaf;
        for (uint256 i = 0; i < proof.length; ++i) {
            node = _hashPair(node, proof[i]);
        }
        return node == root;
    }

    function _hashPair(bytes32 a, bytes32 b) private pure returns (bytes32) {
        return a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
    }
}
