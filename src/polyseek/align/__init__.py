"""The aligner: frozen image backbone features projected into a frozen text encoder's space (plus a label bridge)."""
