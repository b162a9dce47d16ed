"""Operators that upload MMS pictures to CloudContactAI and create SMS/MMS campaigns."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

# The provider's exceptions are imported where raised: that module adds 0.15-0.3 ms to every DAG-file parse.
from airflow_provider_ccai.utils.hook_mixin import CcaiHookMixin
from airflow_provider_ccai.version_compat import BaseOperator

if TYPE_CHECKING:
    import os

    from airflow.sdk import ObjectStoragePath, XComArg

    from airflow_provider_ccai.utils.recipients import CampaignRequest, OnInvalid, UnmappedColumns
    from airflow_provider_ccai.version_compat import Context


def _render_as_text(operator: Any, template: Any, context: Any, dag: Any = None) -> Any:
    """
    Render ``template`` to text whatever the DAG's ``render_template_as_native_obj`` (the operators' ``_render``).

    Native rendering reads rendered text as a Python literal: a phone ``"+4915112345678"`` would become the
    int ``4915112345678`` (another person's number once a region is added), a title ``"20260101"`` an int.
    Airflow's ``Templater`` (a base class of every operator, found in the MRO rather than imported from its
    private module) renders text when given no DAG; an operator's own ``render_template_as_native_obj``
    (Airflow 3) still applies.

    :param operator: the operator whose field is rendered.
    :param template: the compiled Jinja template.
    :param context: the task context.
    :param dag: the DAG Airflow passes; not used.
    """
    templater: Any = next(cls for cls in type(operator).__mro__ if cls.__name__ == "Templater")
    return templater._render(operator, template, context, None)


class CcaiUploadFileOperator(CcaiHookMixin, BaseOperator):
    """
    Put an image into CCAI storage and return its file key (XCom ``return_value``).

    The file must be a JPEG, PNG or GIF (judged by its content) of at most 1 MB; it is checked before
    any request is sent. Without ``file_name`` the name is ``<md5>.<ext>`` of the content, so an image
    that is already stored is not uploaded again and a changed image never replaces one that an older
    campaign still shows.

    .. seealso:: ``docs/operators/upload_file.md``

    :param file_path: local path, object-storage URI (``s3://...``, ``file://...``) or ``ObjectStoragePath``
        of the image. (templated)
    :param file_name: name to store the file under; default ``<md5 of content>.<ext>``. (templated)
    :param mime_type: expected MIME type; must match the content. Default: taken from the content. (templated)
    :param public: whether the stored file is publicly readable (MMS pictures must be); the default name of a
        private file ends in ``-private``.
    :param file_conn_id: Airflow connection for an object-storage ``file_path``.
    :param ccai_conn_id: the ``ccai`` connection.
    :param hook_params: keyword arguments for :class:`CloudContactHook` that override the connection's
        extras, e.g. ``{"timeout": 60, "connect_timeout": 5, "max_attempts": 3}``.
    """

    template_fields: Sequence[str] = ("file_path", "file_name", "mime_type")
    template_ext: Sequence[str] = ()
    ui_color = "#d6eaf8"
    _render = _render_as_text

    def __init__(
        self,
        *,
        file_path: str | os.PathLike[str] | ObjectStoragePath | XComArg,
        file_name: str | None = None,
        mime_type: str | None = None,
        public: bool = True,
        file_conn_id: str | None = None,
        ccai_conn_id: str = "ccai_default",
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.file_path = file_path
        self.file_name = file_name
        self.mime_type = mime_type
        self.public = public
        self.file_conn_id = file_conn_id
        self.ccai_conn_id = ccai_conn_id
        self.hook_params = hook_params or {}

    def _do_render_template_fields(
        self, parent: Any, template_fields: Any, context: Context, jinja_env: Any, seen_oids: set[int]
    ) -> None:
        """
        Render the fields as Airflow does; wrap a ``file_path`` URI with a query string (text or an
        ``ObjectStoragePath``) in :class:`RenderedUri`.

        Airflow's rendered-template view would otherwise show a presigned URL's signature.

        :param parent: the object whose fields are rendered (this operator, or a nested templated value).
        :param template_fields: names of the fields to render.
        :param context: the task context.
        :param jinja_env: the Jinja environment.
        :param seen_oids: ids of values already rendered.
        """
        from airflow_provider_ccai.utils.sources import as_location, displayable

        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
        location = as_location(self.file_path)
        if parent is self and isinstance(location, str) and displayable(location) != location:
            self.file_path = RenderedUri(self.file_path)

    def execute(self, context: Context) -> str:
        """
        Validate the image, skip it if already stored, else upload it; return the file key.

        :param context: the task context.
        """
        from airflow_provider_ccai.exceptions import CcaiInputError
        from airflow_provider_ccai.hooks.ccai import MAX_FILE_KEY_BYTES
        from airflow_provider_ccai.utils.images import (
            MAX_MMS_BYTES,
            MMS_IMAGE_TYPES,
            is_complete_image,
            sniff_image_type,
        )
        from airflow_provider_ccai.utils.sources import as_location, read_source, shown

        file_path = as_location(self.file_path.value if isinstance(self.file_path, RenderedUri) else self.file_path)
        content = read_source(file_path, "file_path", conn_id=self.file_conn_id, max_bytes=MAX_MMS_BYTES)
        detected = sniff_image_type(content)
        if detected is None:
            raise CcaiInputError(
                f"file_path: {shown(file_path)} is not a JPEG, PNG or GIF image (checked by content); "
                "CCAI MMS accepts only those"
            )
        declared = str(self.mime_type).strip().lower() if self.mime_type is not None else detected
        if declared.replace("image/jpg", "image/jpeg") != detected:
            allowed = ", ".join(MMS_IMAGE_TYPES)
            raise CcaiInputError(
                f"mime_type: {self.mime_type!r} does not match the file's content ({detected}); allowed: {allowed}"
            )
        if not is_complete_image(content, detected):
            raise CcaiInputError(
                f"file_path: {shown(file_path)} is a truncated or damaged {detected} image (its data ends before "
                "the image does); CCAI would send recipients a broken picture"
            )
        file_name = self._file_name(content, detected)
        hook = self.hook
        file_key = hook.file_key(file_name)
        if len(file_key.encode()) > MAX_FILE_KEY_BYTES:
            raise CcaiInputError(
                f"file_name: the file key '{hook.file_key('')}<file_name>' is longer than {MAX_FILE_KEY_BYTES} "
                "bytes, which object storage refuses"
            )
        if self.file_name is None and hook.is_file_stored(file_key):
            self.log.info("File %s is already stored in CCAI; not uploading it again", file_key)
            return file_key
        hook.upload_file(content, file_name, detected, self.public)
        self.log.info("Uploaded %d bytes (%s) to CCAI as %s", len(content), detected, file_key)
        return file_key

    def _file_name(self, content: bytes, mime_type: str) -> str:
        """Return the default content-addressed name, or the checked ``file_name``, for content of ``mime_type``."""
        from airflow_provider_ccai.exceptions import CcaiInputError
        from airflow_provider_ccai.utils.images import extension_for, extension_matches, looks_content_addressed

        private = "" if self.public else "-private"  # a private copy has its own name: neither stands in for the other
        content_name = f"{hashlib.md5(content, usedforsecurity=False).hexdigest()}{private}.{extension_for(mime_type)}"
        if self.file_name is None:
            return content_name
        if not isinstance(self.file_name, str):
            raise CcaiInputError(f"file_name: expected a string, got {type(self.file_name).__name__}")
        name = self.file_name.strip()
        if not name or "/" in name or "\\" in name or ".." in name or name == ".":
            raise CcaiInputError(f"file_name: {self.file_name!r} must be a plain file name without slashes or '..'")
        if any(char.isspace() or not char.isprintable() or char in "#?%" for char in name):  # nor may a file key
            raise CcaiInputError(
                f"file_name: {self.file_name!r} must not contain spaces, control characters or '#', '?', '%', "
                "which a picture's URL would read as something else"
            )
        if looks_content_addressed(name) and name.lower() != content_name:
            raise CcaiInputError(  # it would stand in for that image: later uploads of it would be skipped
                f"file_name: {self.file_name!r} is the default name of another image (the md5 of its content); "
                "leave file_name unset, or choose a name of your own"
            )
        if not extension_matches(name, mime_type):  # the stored file is served by its name's type
            raise CcaiInputError(
                f"file_name: {self.file_name!r} must end in .{extension_for(mime_type)} (the file is {mime_type})"
            )
        return name


class RenderedUri:
    """
    A rendered URI shown in Airflow's rendered-template view without its query string and fragment.

    :param value: the URI the template rendered to (text or an ``ObjectStoragePath``); the operator reads this.
    """

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        from airflow_provider_ccai.utils.sources import as_location, displayable

        return displayable(as_location(self.value))

    __repr__ = __str__


class RenderedRecipients:
    """
    Rendered ``accounts`` kept out of Airflow's rendered-template view (it would show phone numbers).

    :param value: what the template rendered to.
    """

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        from airflow_provider_ccai.utils.recipients import is_recipients_file
        from airflow_provider_ccai.utils.sources import as_location, displayable

        location = as_location(self.value)
        if isinstance(location, str) and is_recipients_file(location):
            return displayable(location)  # a file path or URI is not personal data; its signature would be
        rows = len(self.value) if isinstance(self.value, (list, tuple)) else None
        size = type(self.value).__name__ if rows is None else f"{rows} row" if rows == 1 else f"{rows} rows"
        return f"<recipients: {size}, not shown>"

    __repr__ = __str__


class CcaiCreateCampaignOperator(CcaiHookMixin, BaseOperator):
    """
    Create an SMS campaign, or an MMS campaign with ``picture_file_key``; return the campaign id.

    Recipients are validated before anything is sent. The campaign is created at most once per task
    instance, across the hook's and Airflow's retries (see ``docs/reliability.md``): when an earlier
    try may have created it, this try finds it and returns its id instead of texting anyone twice.
    The response's top-level scalar fields, without key-like or recipient-like ones
    (:func:`~airflow_provider_ccai.hooks.ccai.public_fields`), are pushed to XCom under the key ``campaign``.

    .. seealso:: ``docs/operators/create_campaign.md``

    :param accounts: recipients: a list of dicts (``firstName``, ``lastName``, ``phone``, optional
        ``data`` and ``messageData``; snake_case accepted) or tuples, e.g. from an upstream task, or a
        CSV/JSON/JSON Lines path, object-storage URI, ``pathlib.Path`` or ``ObjectStoragePath``. (templated)
    :param message: message template; CCAI fills ``${firstName}``-style variables. (templated)
    :param title: campaign title. (templated)
    :param picture_file_key: file key from :class:`CcaiUploadFileOperator` (``upload.output``). (templated)
    :param sender_phone: E.164 number to send from; default: the account's number. (templated)
    :param scheduled_timestamp: when to send (ISO 8601 string or datetime); default now. (templated)
    :param scheduled_timezone: IANA time zone id, e.g. ``America/New_York``, of a ``scheduled_timestamp``
        without an offset. The time is always sent to CCAI in UTC, labelled ``UTC``. (templated)
    :param column_mapping: wire field -> column name or tuple position, e.g. ``{"phone": "mobile"}``.
    :param default_region: ISO country code to parse national phone numbers (``"US"``); default E.164 only.
    :param on_invalid: ``"fail"`` (default) fails on an invalid or duplicate row; ``"skip"`` leaves it out.
        Checked when the DAG is parsed, as ``unmapped_columns`` is.
    :param unmapped_columns: ``"ignore"`` (default) or ``"data"``: columns not mapped become ``${variables}``.
    :param accounts_conn_id: Airflow connection for an object-storage ``accounts`` URI.
    :param ccai_conn_id: the ``ccai`` connection.
    :param hook_params: keyword arguments for :class:`CloudContactHook` that override the connection's
        extras, e.g. ``{"timeout": 60, "connect_timeout": 5, "max_attempts": 3}``.
    """

    template_fields: Sequence[str] = (
        "accounts",
        "message",
        "title",
        "picture_file_key",
        "sender_phone",
        "scheduled_timestamp",
        "scheduled_timezone",
    )
    template_ext: Sequence[str] = ()
    ui_color = "#d5f5e3"
    _render = _render_as_text

    def __init__(
        self,
        *,
        accounts: Any,
        message: str,
        title: str,
        picture_file_key: str | XComArg | None = None,
        sender_phone: str | None = None,
        scheduled_timestamp: str | datetime | None = None,
        scheduled_timezone: str | None = None,
        column_mapping: Mapping[str, str | int] | None = None,
        default_region: str | None = None,
        on_invalid: OnInvalid = "fail",
        unmapped_columns: UnmappedColumns = "ignore",
        accounts_conn_id: str | None = None,
        ccai_conn_id: str = "ccai_default",
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        from airflow_provider_ccai.utils.validation import check_recipient_options

        super().__init__(**kwargs)
        check_recipient_options(on_invalid, unmapped_columns)  # not templated: a typo fails when the DAG is parsed
        self.accounts = accounts
        self.message = message
        self.title = title
        self.picture_file_key = picture_file_key
        self.sender_phone = sender_phone
        self.scheduled_timestamp = scheduled_timestamp
        self.scheduled_timezone = scheduled_timezone
        self.column_mapping = column_mapping
        self.default_region = default_region
        self.on_invalid = on_invalid
        self.unmapped_columns = unmapped_columns
        self.accounts_conn_id = accounts_conn_id
        self.ccai_conn_id = ccai_conn_id
        self.hook_params = hook_params or {}

    def _do_render_template_fields(
        self, parent: Any, template_fields: Any, context: Context, jinja_env: Any, seen_oids: set[int]
    ) -> None:
        """
        Render the fields as Airflow does, except ``accounts``, which is rendered by :meth:`_rendered_accounts`.

        Airflow logs the unrendered value of a field whose rendering fails (a literal recipients list
        holding a template with an undefined variable would put every phone number in the task log), and
        the rendered-template view would show them too. Overridden here rather than
        ``render_template_fields`` because a mapped task (``.expand()``) renders through this method only.

        :param parent: the object whose fields are rendered (this operator, or a nested templated value).
        :param template_fields: names of the fields to render.
        :param context: the task context.
        :param jinja_env: the Jinja environment.
        :param seen_oids: ids of values already rendered.
        """
        if parent is not self:
            super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
            return
        others = [name for name in template_fields if name != "accounts"]
        super()._do_render_template_fields(self, others, context, jinja_env, seen_oids)
        if "accounts" in template_fields and not isinstance(self.accounts, RenderedRecipients):
            self.accounts = RenderedRecipients(self._rendered_accounts(context, jinja_env, seen_oids))

    def _rendered_accounts(self, context: Context, jinja_env: Any, seen_oids: set[int]) -> Any:
        """
        Return ``accounts`` rendered; a failure is logged without the template.

        A template that is the whole field (``"{{ ti.xcom_pull(task_ids='rows') }}"``) renders as the DAG
        says: to a list under ``render_template_as_native_obj``. Strings inside a list or dict render to
        text, as every other field does (see :func:`_render_as_text`).

        :param context: the task context.
        :param jinja_env: the Jinja environment.
        :param seen_oids: ids of values already rendered, or that a mapped task took from XCom, which stay as
            they are.
        """
        value = self.accounts
        if id(value) in seen_oids:  # data a mapped task got from XCom: never a template
            return value
        try:
            if callable(value):
                return value(context=context, jinja_env=jinja_env)
            if isinstance(value, str):
                return super()._render(jinja_env.from_string(value), context)
            return self.render_template(value, context, jinja_env, seen_oids)
        except Exception as error:
            self.log.error(
                "Exception rendering Jinja template for task %r, field 'accounts': %s (the template is not "
                "shown: it holds recipients)",
                self.task_id,
                type(error).__name__,
            )
            raise

    def execute(self, context: Context) -> int:
        """
        Return the campaign an earlier try recorded, or validate everything and create it once.

        :param context: the task context.
        """
        from airflow_provider_ccai.exceptions import CcaiInputError
        from airflow_provider_ccai.hooks.ccai import public_fields
        from airflow_provider_ccai.utils.once import CampaignOnce

        hook = self.hook
        once = CampaignOnce(hook, self.title, self.message, context, self.log)
        campaign = once.recorded()
        if campaign is None:  # nothing recorded: validate and send (a recorded campaign needs neither)
            request = self._build_request()
            if self.picture_file_key and not str(self.picture_file_key).startswith(f"{hook.client_id}/"):
                raise CcaiInputError(
                    f"picture_file_key: {self.picture_file_key!r} belongs to another client; "
                    f"keys of this connection start with '{hook.client_id}/'"
                )
            campaign = once.create(request, before_sending=self._check_picture_stored)
            self.log.info(
                "CCAI campaign %s: status %s, %d recipient%s",
                campaign["id"],
                campaign.get("status"),
                request.recipient_count,
                "" if request.recipient_count == 1 else "s",
            )
        if self.do_xcom_push:  # as for return_value: do_xcom_push=False pushes nothing
            context["ti"].xcom_push(key="campaign", value=public_fields(campaign))
        return int(campaign["id"])

    def _check_picture_stored(self) -> None:
        """
        Fail unless CCAI stores ``picture_file_key``: it accepts a key it does not store and sends the MMS without
        its picture. Checked just before sending, after a retry has looked for an earlier try's campaign.
        """
        from airflow_provider_ccai.exceptions import CcaiInputError

        if self.picture_file_key and not self.hook.is_file_stored(str(self.picture_file_key)):
            raise CcaiInputError(
                f"picture_file_key: {self.picture_file_key!r} is not stored in CCAI; pass the key the upload "
                "task returned (upload.output). Nothing was sent"
            )

    # -- validation and the request body -----------------------------------------------------------

    def _build_request(self) -> CampaignRequest:
        """
        Return the ``campaigns/direct`` request, or raise naming the bad field.

        A scheduled time already past is refused later, just before sending
        (:meth:`~airflow_provider_ccai.utils.once.CampaignOnce.create`): a retry must first be able to find
        the campaign an earlier try scheduled.
        """
        import io
        import json

        from airflow_provider_ccai.exceptions import CcaiInputError
        from airflow_provider_ccai.utils.recipients import (
            E164,
            REQUIRED_FIELDS,
            CampaignRequest,
            message_variables,
            write_accounts,
        )
        from airflow_provider_ccai.utils.validation import required_text, scheduled_at

        message = required_text(self.message, "message")
        title = required_text(self.title, "title")
        fields: dict[str, Any] = {"message": message, "title": title}
        if self.picture_file_key not in (None, ""):
            key = required_text(self.picture_file_key, "picture_file_key")
            if any(char.isspace() for char in key) or "/campaign/" not in key:
                raise CcaiInputError(
                    f"picture_file_key: {key!r} is not a CCAI file key ('<client id>/campaign/<file name>')"
                )
            fields["pictureFileKey"] = key
        if self.sender_phone not in (None, ""):
            sender = required_text(self.sender_phone, "sender_phone")
            if not E164.fullmatch(sender):
                raise CcaiInputError("sender_phone: not in E.164 format (+<country code><number>)")
            fields["senderPhone"] = sender
        when = scheduled_at(self.scheduled_timestamp, self.scheduled_timezone)
        if when is not None:
            # the zone sent is always UTC: whether CCAI reads the timestamp as an instant or as wall-clock
            # time in scheduledTimezone is not documented, and with UTC both readings give the same moment
            fields["scheduledTimestamp"] = f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z"
            fields["scheduledTimezone"] = "UTC"

        options: dict[str, Any] = {
            "column_mapping": self.column_mapping,
            "default_region": self.default_region,
            "on_invalid": self.on_invalid,
            "unmapped_columns": self.unmapped_columns,
        }
        rows = self._rows()
        out = io.BytesIO()
        out.write(b'{"accounts":')
        if isinstance(rows, str):
            report = self._rows_from_file(rows, out, options)
        else:
            report = write_accounts(rows, out, **options)
        # ${firstName} and friends come from the account's own fields, whatever columns were dropped
        unsent = sorted((message_variables(message) - set(REQUIRED_FIELDS)) & report.ignored_columns)
        if unsent:
            raise CcaiInputError(
                f"message: uses ${{{unsent[0]}}}, but column {unsent[0]!r} is not sent (unmapped_columns='ignore'), "
                "so every recipient would get a blank there; set unmapped_columns='data' or put it in each "
                "row's data. Nothing was sent."
            )
        out.write(b"," + json.dumps(fields, separators=(",", ":"))[1:].encode())
        if report.skipped:
            shown = ", ".join(f"{row} ({reason.split(':')[0]})" for row, reason in report.skipped[:20])
            more = f" and {len(report.skipped) - 20} more" if len(report.skipped) > 20 else ""
            self.log.warning("Skipped %d invalid recipient rows: %s%s", len(report.skipped), shown, more)
        if report.ignored_columns:
            self.log.info(
                "Ignored columns not mapped to CCAI fields: %s (unmapped_columns='data' sends them as variables)",
                ", ".join(sorted(report.ignored_columns)),
            )
        return CampaignRequest(out.getvalue(), report.count, when)

    def _rows(self) -> Any:
        """Return the recipient rows (a list), or the path/URI of a recipients file, that ``accounts`` gives."""
        from airflow_provider_ccai.exceptions import CcaiInputError
        from airflow_provider_ccai.utils.recipients import is_recipients_file
        from airflow_provider_ccai.utils.sources import as_location
        from airflow_provider_ccai.utils.validation import parse_list_literal

        accounts = as_location(self.accounts.value if isinstance(self.accounts, RenderedRecipients) else self.accounts)
        if isinstance(accounts, str):
            text = accounts.strip()
            if text.startswith("["):
                return parse_list_literal(text, "accounts")
            if not text:
                raise CcaiInputError("accounts: empty; expected a list of recipients or a file path/URI")
            if text.startswith("LazySelectSequence("):  # Airflow 2.11's text for a mapped task's pulled results
                raise CcaiInputError(
                    "accounts: rendered to the text of a mapped task's results (Airflow 2.11), not to the rows; "
                    "pass the upstream task's .output instead of a Jinja xcom_pull"
                )
            if not is_recipients_file(text):  # not echoed: text that is not a path may hold recipients
                raise CcaiInputError(
                    "accounts: rendered text is neither a list of recipients nor one path/URI ending in "
                    ".csv, .json, .jsonl or .ndjson (text not shown)"
                )
            return text
        if isinstance(accounts, Mapping):
            raise CcaiInputError("accounts: expected a list of recipients, got one object; wrap it in a list")
        if isinstance(accounts, (list, tuple)):
            return accounts
        if isinstance(accounts, Sequence) and not isinstance(accounts, (bytes, bytearray)):
            return list(accounts)  # e.g. the lazy sequence a mapped upstream task's XCom resolves to
        raise CcaiInputError(
            f"accounts: expected a list of recipients or a file path/URI, got {type(accounts).__name__}"
        )

    def _rows_from_file(self, path: str, out: Any, options: dict[str, Any]) -> Any:
        """Stream the recipients of a CSV/JSON/JSON Lines file (local or object storage) into ``out``."""
        from airflow_provider_ccai.utils.recipients import write_accounts_from_file

        return write_accounts_from_file(path, out, conn_id=self.accounts_conn_id, **options)
