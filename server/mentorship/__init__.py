"""Mentorship: a mentee's request and the mentor's answer, the mentorship that follows and its end
(or a change of mentor), session feedback, and the safety tools peer support needs (block, report).
Ranking who to suggest is the matching feature's (server/matching)."""
