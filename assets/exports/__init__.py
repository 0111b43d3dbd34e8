"""Routty's exports back into the books: picked up (pickup), parsed tolerantly (parser), booked as
bills through Rutter (booking), answered with feedback (feedback); the sensor starts it all."""

GROUP = "exports"
