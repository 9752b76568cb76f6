"""Rows that are written once: the ledgers, their import batches' entries, dated rate tables and
payments. The database refuses an UPDATE or DELETE on their tables (each model's triggers); the
mixin refuses it in Python first, with the model's own message."""


class AppendOnly:
    """Mixed into a model before models.Model. `append_only_message` says what to do instead."""

    append_only_message = "This row is never edited nor deleted."

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise TypeError(self.append_only_message)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError(self.append_only_message)
