import pytest

from adapters import migrator


def test_migrating_twice_applies_nothing_the_second_time(container):
    assert container.migrate() == []
    with container.datastore.get_connection() as conn:
        versions = [r["version"] for r in
                    conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()]
    assert versions == [m.version for m in migrator.available()]


def test_a_migration_edited_after_it_landed_is_refused(container, monkeypatch):
    container.migrate()
    original = migrator.available()
    edited = [migrator.Migration(m.version, m.name, m.sql + "\n-- edited") if m.version == 1
              else m for m in original]
    monkeypatch.setattr(migrator, "available", lambda: edited)
    with pytest.raises(migrator.MigrationError, match="edited after"):
        container.migrate()
