// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FedproofCredits
/// @notice The credits contributors earn for verified updates, as a plain ERC-20 ("FPC"), so that
/// any wallet, explorer or `cast balance` shows them. One credit is one sample a device trained on
/// in a round, hence whole units: `decimals()` is 0.
/// @dev Deployed by FedproofRegistry in its constructor; the registry is the only minter, for
/// ever (there is no role to grant, so no key can ever mint outside a Merkle claim), and it mints
/// only what an anchored round's credits tree allows, capped by the round's anchored total.
contract FedproofCredits is ERC20 {
    /// The registry that deployed this token.
    address public immutable minter;

    error FedproofCredits__NotMinter(address account);

    constructor() ERC20("fedproof credits", "FPC") {
        minter = msg.sender;
    }

    function decimals() public pure override returns (uint8) {
        return 0;
    }

    function mint(address account, uint256 amount) external {
        if (msg.sender != minter) revert FedproofCredits__NotMinter(msg.sender);
        _mint(account, amount);
    }
}
