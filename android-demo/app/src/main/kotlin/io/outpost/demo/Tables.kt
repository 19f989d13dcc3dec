package io.outpost.demo

import io.outpost.demo.viewmodels.EditableColumn
import io.outpost.demo.viewmodels.FieldKind
import io.outpost.demo.viewmodels.TableView

/** The tables of Outpost's shipped profile, as the demo lists and edits them. */
object Tables {
    val all: List<TableView> = listOf(
        TableView("accounts", "Accounts", titleColumn = "name", subtitleColumn = "telephone1", orderBy = "name"),
        TableView("contacts", "Contacts", titleColumn = "fullname", subtitleColumn = "emailaddress1", orderBy = "lastname"),
        TableView("tasks", "Tasks", titleColumn = "subject", subtitleColumn = "scheduledend", orderBy = "scheduledend"),
    )

    fun view(entitySet: String): TableView = all.first { it.entitySet == entitySet }

    fun editable(entitySet: String): List<EditableColumn> = when (entitySet) {
        "accounts" -> listOf(
            EditableColumn("name", "Name"),
            EditableColumn("telephone1", "Phone"),
            EditableColumn("emailaddress1", "Email"),
            EditableColumn("numberofemployees", "Employees", FieldKind.WHOLE_NUMBER),
            EditableColumn("revenue", "Revenue", FieldKind.DECIMAL),
            EditableColumn("creditonhold", "Credit on hold", FieldKind.YES_NO),
            EditableColumn("description", "Notes"),
        )
        "contacts" -> listOf(
            EditableColumn("firstname", "First name"),
            EditableColumn("lastname", "Last name"),
            EditableColumn("jobtitle", "Job title"),
            EditableColumn("emailaddress1", "Email"),
            EditableColumn("telephone1", "Phone"),
            EditableColumn("description", "Notes"),
        )
        else -> listOf(
            EditableColumn("subject", "Subject"),
            EditableColumn("percentcomplete", "% complete", FieldKind.WHOLE_NUMBER),
            EditableColumn("description", "Notes"),
        )
    }
}
