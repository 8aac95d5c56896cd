"""The AI layer: providers behind one interface (the client libraries load lazily)."""
