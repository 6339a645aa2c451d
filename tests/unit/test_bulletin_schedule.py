"""The cron that publishes bulletins fires at 00:05 local each day, whatever the UTC date says."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from alerting.audit.bulletins import bulletin_schedule, previous

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_fires_five_minutes_into_each_local_day() -> None:
    trigger = bulletin_schedule(SHANGHAI)
    fire = trigger.get_next_fire_time(None, datetime(2026, 4, 10, 15, 0, tzinfo=UTC))
    assert fire == datetime(2026, 4, 11, 0, 5, tzinfo=SHANGHAI)  # 2026-04-10T16:05Z
    after = trigger.get_next_fire_time(fire, fire.replace(minute=6))
    assert after == datetime(2026, 4, 12, 0, 5, tzinfo=SHANGHAI)


def test_publishes_the_period_that_just_ended() -> None:
    fire = datetime(2026, 1, 1, 0, 5, tzinfo=SHANGHAI)
    assert previous("quarter", fire, SHANGHAI).key == "2025-Q4"
    assert previous("year", fire, SHANGHAI).key == "2025"
