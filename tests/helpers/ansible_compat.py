"""What the tests need from ansible-core, on every version the collection
claims (meta/runtime.yml's requires_ansible; `make matrix` runs them all).

- patch_module_args(args): AnsibleModule instances made inside the context
  read `args`. ansible.module_utils.testing has it from 2.19 on; before, the
  module args are basic._ANSIBLE_ARGS (JSON bytes), which the same
  context sets and restores.
- trust_as_template(value): 2.19's data tagging marks strings Ansible may
  template; before 2.19 every string was templated, so the value itself.
"""

import contextlib
import json
from unittest import mock

try:
    from ansible.module_utils.testing import patch_module_args  # noqa: F401 pylint: disable=unused-import
except ImportError:  # ansible-core < 2.19
    from ansible.module_utils import basic as _basic

    @contextlib.contextmanager
    def patch_module_args(args=None):
        """Expose `args` to the AnsibleModule instances made within this context."""
        if not isinstance(args, (dict, type(None))):
            raise TypeError("The `args` arg must be a dict or None.")
        payload = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        with mock.patch.object(_basic, "_ANSIBLE_ARGS", payload):
            yield

try:
    from ansible.template import trust_as_template  # noqa: F401 pylint: disable=unused-import
except ImportError:  # ansible-core < 2.19
    def trust_as_template(value):
        """Before data tagging, Ansible templates every string."""
        return value
