"""Imports behind one seam: a reader per source (the project's CSV files, Zoho CRM exports, Fxiaoke workbooks)
fills a RecordSet, one validation step checks it against the database, one writer upserts it. A new source is
one module that returns a RecordSet. Entry points: ``services.importer.import_files`` (the project's files) and
``services.imports.crm`` (``preview_crm_import`` / ``apply_crm_import``; through a CRM's API ``preview_crm_pull`` /
``apply_crm_pull``, with one module per API source, e.g. ``zoho_api``, sharing ``http_source``'s retries)."""
