"""What was asked and answered, kept in the index folder's ``sessions.sqlite``: the saved
conversations (:mod:`.store`) and the log of every answer (:mod:`.answer_log`)."""
