"""Model building: layers, activations and weight initialisation."""
