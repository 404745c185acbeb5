"""Print the arguments as JSON, so tests can see exactly what the command received."""

import json
import sys

print(json.dumps(sys.argv[1:]))
