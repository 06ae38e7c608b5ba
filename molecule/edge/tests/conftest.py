import os
import sys

# The shared helpers live beside the shared playbooks.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
