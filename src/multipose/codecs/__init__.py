"""Codecs: what each method's network predicts, encoded from people and decoded into people."""
