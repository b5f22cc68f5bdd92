# The charger firmware package, deployed to /lib/evse on the board.
