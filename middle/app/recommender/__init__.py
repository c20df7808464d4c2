"""The recommender's use cases: run it, and keep the state issue's dispatcher sections
current between runs."""
