"""neurocbram: neuromorphic networks whose synapses are measured memristive devices.

Spiking networks are Brian2 models whose synaptic conductances follow a device
card's measured pulse-response curves pulse by pulse; rate-coded crossbar
equivalents live in :mod:`neurocbram.analysis`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
