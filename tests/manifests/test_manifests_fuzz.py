"""Whatever a file holds, the loader either accepts it or raises ManifestError: never anything else."""

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import manifest
from reconciler.errors import ManifestError
from tests.testing.manifests import GEMINI, VERTEX

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
trees = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=20)
yaml_fragments = st.sampled_from(["---", "&a", "*a", "!!python/object:os.system", "<<: *a", "- ", ": ", "{", "}",
                                  "[", "]", "'", '"', "${X}", "${", "$$", "\t", "\n", "  ", "#", "%YAML 1.1",
                                  "? ", "|", ">", "!!binary", "~", ".nan", "0x1F", "1e999"])


def load_text(tmp_path, content: str | bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    try:
        manifest.load(path, env={"X": "1"})
    except ManifestError:
        pass


@FUZZ
@given(st.text())
def test_arbitrary_text(tmp_path, text):
    load_text(tmp_path, text)


@FUZZ
@given(st.binary())
def test_arbitrary_bytes(tmp_path, data):
    load_text(tmp_path, data)


@FUZZ
@given(st.lists(yaml_fragments | st.text(max_size=5), max_size=30))
def test_yaml_shaped_noise(tmp_path, fragments):
    load_text(tmp_path, " ".join(fragments))


@FUZZ
@given(trees)
def test_arbitrary_structures_dumped_as_yaml(tmp_path, tree):
    load_text(tmp_path, yaml.safe_dump(tree))


def paths(tree, prefix=()):
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from paths(value, (*prefix, index))


def replaced(tree, path, value):
    if not path:
        return value
    result = copy.deepcopy(tree)
    node = result
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return result


@FUZZ
@given(st.data(), st.sampled_from([VERTEX, GEMINI]), trees)
def test_valid_manifests_with_one_subtree_replaced(tmp_path, data, manifest, value):
    tree = yaml.safe_load(manifest)
    path = data.draw(st.sampled_from(list(paths(tree))))
    load_text(tmp_path, yaml.safe_dump(replaced(tree, path, value)))
