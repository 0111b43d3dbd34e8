"""Masterdata lists into Routty: the lists (lists/), their XML (xml_writer, build), the outbox, the
delta against what Routty holds (delta), the push and the upload status with its sensor."""

GROUP = "masterdata"
