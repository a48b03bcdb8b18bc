"""Recommendation: more like these examples, or what to show next after a history (``recommend(engine, ...)``)."""

from polyseek.recommend.base import Example, Interaction, Pool, Profile, ProfileItem, Recommender, recommenders
from polyseek.recommend.pipeline import default_model_dir, recommend

__all__ = ["Example", "Interaction", "Pool", "Profile", "ProfileItem", "Recommender", "default_model_dir",
           "recommend", "recommenders"]
