"""What every channel's policy model shares: strict fields, and the robots' default rate."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from alerting.policy.rates import RateLimit


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A group robot takes 20 messages a minute (WeCom, DingTalk; DingTalk then blocks for 10 minutes).
ROBOT_RATE = (RateLimit(20, timedelta(minutes=1)),)
# A Feishu bot takes 100 a minute and 5 a second.
FEISHU_RATE = (RateLimit(100, timedelta(minutes=1)), RateLimit(5, timedelta(seconds=1)))
