"""The staff directory: the sample file, the API other adapters use, errors and where it is found."""

from __future__ import annotations

import pytest
import yaml

from bot.directory import SAMPLE_DIRECTORY, Directory, DirectoryError, directory_path


@pytest.fixture
def sample():
    return Directory.load(SAMPLE_DIRECTORY)


def test_sample_directory_people_and_roles(sample):
    assert sample.get("alice").name == "Alice Adams"
    assert sample.manager_of("alice").user_id == "bob"
    assert sample.manager_of("bob").user_id == "carol"
    assert sample.manager_of("carol") is None
    assert [p.user_id for p in sample.hr_people()] == ["hana"]
    assert sample.is_hr("hana") and not sample.is_hr("bob") and not sample.is_hr("nobody")
    assert sample.safeguarding_lead().user_id == "sam"
    assert sample.get("nobody") is None and sample.manager_of("nobody") is None


def test_platform_ids_map_to_the_same_person(sample):
    alice = sample.get("alice")
    assert sample.by_slack_id(alice.slack_id) is alice
    assert sample.by_teams_id(alice.teams_id) is alice
    assert sample.by_slack_id("U_UNKNOWN") is None and sample.by_teams_id("29:unknown") is None
    assert all(p.slack_id and p.teams_id for p in sample.people())


def test_find_by_name_or_id(sample):
    assert [p.user_id for p in sample.find("Carol Clarke")] == ["carol"]
    assert [p.user_id for p in sample.find("HANA")] == ["hana"]
    assert [p.user_id for p in sample.find("sam")] == ["sam"]
    assert sample.find("") == [] and sample.find("zed") == []


def test_yaml_directory_is_equivalent(tmp_path, sample):
    import tomllib

    data = tomllib.loads(SAMPLE_DIRECTORY.read_text())
    path = tmp_path / "directory.yaml"
    path.write_text(yaml.safe_dump(data))
    loaded = Directory.load(path)
    assert loaded.people() == sample.people()


@pytest.mark.parametrize(
    "body,needle",
    [
        ('[[person]]\nid = "a"\nname = "A"\n[[person]]\nid = "a"\nname = "B"\n', "duplicate person id"),
        ('[[person]]\nid = "a"\nname = "A"\nmanager = "ghost"\n', "not in the directory"),
        (
            '[[person]]\nid = "a"\nname = "A"\nslack_id = "U1"\n[[person]]\nid = "b"\nname = "B"\nslack_id = "U1"\n',
            "Slack id",
        ),
        ('[[person]]\nid = "a"\nname = "A"\nroles = ["boss"]\n', "unknown role"),
        ('[[person]]\nname = "A"\n', "needs at least an id"),
        ("this is = = not toml", "not a valid directory"),
    ],
)
def test_bad_directories_are_refused_clearly(tmp_path, body, needle):
    path = tmp_path / "directory.toml"
    path.write_text(body)
    with pytest.raises(DirectoryError) as exc:
        Directory.load(path)
    assert needle in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(DirectoryError):
        Directory.load(tmp_path / "nope.toml")


def test_where_the_directory_is_found(tmp_path, monkeypatch):
    monkeypatch.delenv("POLICYBOT_DIRECTORY", raising=False)
    assert directory_path(tmp_path, dev=False) is None
    assert directory_path(tmp_path, dev=True) == SAMPLE_DIRECTORY
    (tmp_path / "directory.toml").write_text(SAMPLE_DIRECTORY.read_text())
    assert directory_path(tmp_path, dev=True) == tmp_path / "directory.toml"
    monkeypatch.setenv("POLICYBOT_DIRECTORY", str(tmp_path / "elsewhere.yaml"))
    assert directory_path(tmp_path) == tmp_path / "elsewhere.yaml"


def test_a_person_may_name_their_organisation_or_several(tmp_path, sample):
    assert all(p.organisations == () for p in sample.people())
    path = tmp_path / "directory.toml"
    path.write_text(
        '[[person]]\nid = "a"\nname = "A"\norganisation = " Medway Council "\n'
        '[[person]]\nid = "b"\nname = "B"\norganisation = ["MPWEC", "Lexden Montessori"]\n',
        encoding="utf-8",
    )
    d = Directory.load(path)
    assert d.get("a").organisations == ("Medway Council",)
    assert d.get("b").organisations == ("MPWEC", "Lexden Montessori")
    path.write_text('[[person]]\nid = "a"\nname = "A"\norganisation = 3\n', encoding="utf-8")
    with pytest.raises(DirectoryError, match="organisation must be a name or a list"):
        Directory.load(path)
