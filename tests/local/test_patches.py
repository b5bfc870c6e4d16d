"""The guard on moto's version: each patch checks what it takes from moto, and on a moto that no longer has it
the emulator stops with one line naming the installed moto, the patch and what is missing. Stand-ins play the
changed moto (a class without the method, a method with other parameters, a module without the class); the
project's own code runs as it is."""

from __future__ import annotations

import configparser
import subprocess
import sys

import pytest

from tap_templates.errors import ConfigError
from tap_templates.local.patches import PATCHES, SUPPORTED_MOTO, EmulatorError, moto_version, stacksets
from tap_templates.local.patches.guard import Patch
from tests.deploy.helpers import ROOT, subprocess_env

SUFFIX = f"; this project supports moto {SUPPORTED_MOTO}"


class StackSet:
    """moto's StackSet as a later version might have it: ``create_stack_instances`` gone."""

    __module__ = "moto.cloudformation.models"


class RenamedParameters:
    """moto's StackSet with ``create_stack_instances`` taking other parameters."""

    __module__ = "moto.cloudformation.models"
    __qualname__ = "StackSet"

    def create_stack_instances(self, accounts, regions, parameters):
        raise AssertionError("a patch must not call what it could not check")


def test_a_missing_attribute_stops_the_patch_in_one_line():
    with pytest.raises(EmulatorError) as caught:
        stacksets.INSTANCE_OVERRIDES.require(StackSet, "create_stack_instances", stacksets.CREATE_PARAMETERS)
    message = str(caught.value)
    assert message == (f"moto {moto_version()}: patch 'stacksets: instances merge overrides' no longer applies "
                       f"(moto.cloudformation.models.StackSet has no create_stack_instances){SUFFIX}")
    assert "\n" not in message
    assert isinstance(caught.value, ConfigError), "the scripts print a ConfigError as one line and exit 2"


def test_a_changed_signature_stops_the_patch():
    with pytest.raises(EmulatorError, match=r"StackSet\.create_stack_instances takes \(self, accounts, regions, "
                                            r"parameters\) instead of \(self, accounts, regions, "
                                            r"deployment_targets, parameters\)"):
        stacksets.INSTANCE_OVERRIDES.require(RenamedParameters, "create_stack_instances",
                                             stacksets.CREATE_PARAMETERS)


def test_a_missing_module_stops_the_patch():
    with pytest.raises(EmulatorError, match=r"patch 'kms: key tags and policy' no longer applies \(there is no "
                                            r"module moto\.no_such_service\.models\)"):
        Patch("kms: key tags and policy").module("moto.no_such_service.models")


def test_what_matches_is_returned_as_it_is():
    found = stacksets.INSTANCE_OVERRIDES.require(RenamedParameters, "create_stack_instances",
                                                 ("self", "accounts", "regions", "parameters"))
    assert found is RenamedParameters.create_stack_instances


def test_every_patch_applies_to_the_installed_moto():
    """In a fresh process (this one's moto is patched already): every check passes, nothing is printed."""
    done = subprocess.run([sys.executable, "-c", "from tap_templates.local.patches import PATCHES, patch_moto; "
                           "patch_moto(); print(len(PATCHES))"], cwd=ROOT, capture_output=True, text=True,
                          env=subprocess_env(), timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{len(PATCHES)}\n", "")


def test_the_server_stops_with_the_one_line_on_a_moto_without_what_a_patch_needs():
    """The server as a user starts it, with moto's KMS models replaced by an empty module before it loads."""
    code = ("import sys, types; sys.modules['moto.kms.models'] = types.ModuleType('moto.kms.models'); "
            "from tap_templates.local.server import main; sys.exit(main(['-p', '0']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=subprocess_env(), timeout=60)
    assert done.returncode == 2
    assert done.stderr == (f"EmulatorError: moto {moto_version()}: patch 'kms: key tags and policy' no longer "
                           f"applies (moto.kms.models has no Key){SUFFIX}\n")


def test_setup_cfg_pins_the_range_the_patches_support():
    setup = configparser.ConfigParser(interpolation=None)
    setup.read(ROOT / "setup.cfg")
    pins = [line.strip() for line in setup["options.extras_require"]["local"].splitlines() if "moto" in line]
    assert pins == [f"moto[server]{SUPPORTED_MOTO}"]
