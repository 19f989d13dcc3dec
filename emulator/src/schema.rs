//! The emulated tables: accounts, contacts, tasks (activity, primary key `activityid`), systemusers and
//! teams, with realistic column names, types, flags and relationships.

use crate::codec;

/// Index of a table in [`Schema::tables`].
pub type TableId = usize;

/// Table indexes.
pub const ACCOUNT: TableId = 0;
/// `contact`.
pub const CONTACT: TableId = 1;
/// `task`.
pub const TASK: TableId = 2;
/// `systemuser`.
pub const SYSTEMUSER: TableId = 3;
/// `team`.
pub const TEAM: TableId = 4;

/// Lookup flavour (AttributeType).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupKind {
    /// `Lookup`.
    Lookup,
    /// `Customer` (account or contact).
    Customer,
    /// `Owner` (systemuser or team).
    Owner,
}

/// One possible target of a lookup.
#[derive(Clone, Debug)]
pub struct Target {
    /// Target table.
    pub table: TableId,
    /// Single-valued navigation property (`ReferencingEntityNavigationPropertyName`).
    pub nav: &'static str,
    /// Relationship schema name.
    pub relationship: &'static str,
}

/// Column kind.
#[derive(Clone, Debug)]
pub enum Kind {
    /// Primary key (`Uniqueidentifier`).
    PrimaryKey,
    /// Other GUID column.
    Guid,
    /// Single line of text.
    String { max: u32 },
    /// Multiple lines of text.
    Memo { max: u32 },
    /// Whole number.
    Integer { min: i64, max: i64 },
    /// BigInt (`versionnumber`).
    BigInt,
    /// Currency; stored scaled by 10^4.
    Money,
    /// Decimal; stored scaled by 10^4, shown with `precision` digits.
    Decimal { precision: u32 },
    /// Date only (`DateTimeBehavior` DateOnly).
    DateOnly,
    /// Date and time (`DateTimeBehavior` UserLocal).
    DateTime,
    /// Choice.
    Picklist(&'static [(i32, &'static str)]),
    /// `statecode`.
    State(&'static [(i32, &'static str)]),
    /// `statuscode`.
    Status(&'static [(i32, &'static str)]),
    /// Yes/No with (false label, true label).
    Boolean(&'static str, &'static str),
    /// Lookup.
    Lookup(LookupKind, Vec<Target>),
}

/// Special columns whose value comes from row bookkeeping rather than stored data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Ordinary data.
    Data,
    /// Primary key.
    Pk,
    /// `createdon`.
    CreatedOn,
    /// `modifiedon`.
    ModifiedOn,
    /// `versionnumber`.
    Version,
    /// Contact `fullname`, computed from first and last name.
    FullName,
}

/// How generated rows fill a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gen {
    /// Always null.
    Null,
    /// Company name.
    Company,
    /// First name.
    FirstName,
    /// Last name.
    LastName,
    /// E-mail built from the row's name.
    Email,
    /// Phone number.
    Phone,
    /// Account number `ACC-000123`.
    AccountNumber,
    /// A short sentence.
    Sentence,
    /// Long text of about this many bytes.
    Paragraph(u32),
    /// Job title.
    JobTitle,
    /// Number in range.
    Int(i64, i64),
    /// Money/decimal whole units in range.
    Amount(i64, i64),
    /// Date within the last N years.
    Date,
    /// Date-time within the last 3 years.
    Time,
    /// Any option of the choice.
    Option,
    /// Boolean with this per-mille probability of true.
    Bool(u32),
    /// Lookup to an existing row (per-mille probability of being set).
    Ref(u32),
    /// The owner: a system user or team.
    Owner,
    /// A system user (createdby/modifiedby).
    User,
    /// Bookkeeping value (role != Data).
    Fixed,
}

/// A column (attribute).
#[derive(Clone, Debug)]
pub struct Column {
    /// Logical name.
    pub name: &'static str,
    /// Schema name.
    pub schema_name: &'static str,
    /// Display name.
    pub display: &'static str,
    /// Kind.
    pub kind: Kind,
    /// Role.
    pub role: Role,
    /// `IsValidForCreate`.
    pub create: bool,
    /// `IsValidForUpdate`.
    pub update: bool,
    /// `RequiredLevel`.
    pub required: &'static str,
    /// Generator hint.
    pub gen: Gen,
    /// Wire name, precomputed (`_x_value` for lookups).
    pub wire: String,
}

impl Column {
    /// Whether this column is a lookup (read as `_name_value`).
    pub fn is_lookup(&self) -> bool {
        matches!(self.kind, Kind::Lookup(..))
    }

    /// The property name on the wire (`_x_value` for lookups).
    pub fn wire_name(&self) -> &str {
        &self.wire
    }

    /// Options of a choice/state/status column.
    pub fn options(&self) -> Option<&'static [(i32, &'static str)]> {
        match self.kind {
            Kind::Picklist(o) | Kind::State(o) | Kind::Status(o) => Some(o),
            _ => None,
        }
    }
}

/// A table (entity).
#[derive(Clone, Debug)]
pub struct TableDef {
    /// Index.
    pub id: TableId,
    /// Logical name.
    pub logical: &'static str,
    /// Entity set name.
    pub set: &'static str,
    /// Schema name.
    pub schema_name: &'static str,
    /// Display name.
    pub display: &'static str,
    /// Plural display name.
    pub display_plural: &'static str,
    /// Object type code.
    pub otc: u32,
    /// `MetadataId`.
    pub metadata_id: u128,
    /// `OwnershipType`.
    pub ownership: &'static str,
    /// `IsActivity`.
    pub is_activity: bool,
    /// Columns; index 0 is the primary key.
    pub columns: Vec<Column>,
    /// Index of the primary name column.
    pub primary_name: usize,
}

impl TableDef {
    /// Column index by logical name.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Column index by wire name (`_x_value` for lookups, logical name otherwise).
    pub fn col_by_wire(&self, wire: &str) -> Option<usize> {
        if let Some(inner) = wire.strip_prefix('_').and_then(|w| w.strip_suffix("_value")) {
            return self.columns.iter().position(|c| c.is_lookup() && c.name == inner);
        }
        self.columns.iter().position(|c| !c.is_lookup() && c.name == wire)
    }

    /// Primary key column name.
    pub fn pk(&self) -> &'static str {
        self.columns[0].name
    }

    /// Index of the column with this role.
    pub fn role_col(&self, role: Role) -> Option<usize> {
        self.columns.iter().position(|c| c.role == role)
    }

    /// Finds a lookup column and target by navigation property name.
    pub fn nav(&self, nav: &str) -> Option<(usize, &Target)> {
        self.columns.iter().enumerate().find_map(|(i, c)| match &c.kind {
            Kind::Lookup(_, targets) => targets.iter().find(|t| t.nav == nav).map(|t| (i, t)),
            _ => None,
        })
    }
}

/// All tables.
#[derive(Clone, Debug)]
pub struct Schema {
    /// Tables by [`TableId`].
    pub tables: Vec<TableDef>,
}

const STATE_ACTIVE: &[(i32, &str)] = &[(0, "Active"), (1, "Inactive")];
const STATUS_ACTIVE: &[(i32, &str)] = &[(1, "Active"), (2, "Inactive")];
const TASK_STATE: &[(i32, &str)] = &[(0, "Open"), (1, "Completed"), (2, "Canceled")];
const TASK_STATUS: &[(i32, &str)] = &[
    (2, "Not Started"),
    (3, "In Progress"),
    (4, "Waiting on someone else"),
    (5, "Completed"),
    (6, "Canceled"),
    (7, "Deferred"),
];
const INDUSTRY: &[(i32, &str)] = &[
    (1, "Accounting"),
    (2, "Agriculture and Non-petrol Natural Resource Extraction"),
    (3, "Broadcasting Printing and Publishing"),
    (4, "Brokers"),
    (5, "Building Supply Retail"),
    (6, "Business Services"),
    (7, "Consulting"),
    (8, "Consumer Services"),
    (9, "Design, Direction and Creative Management"),
    (10, "Distributors, Dispatchers and Processors"),
];
const ACCOUNT_CATEGORY: &[(i32, &str)] = &[(1, "Preferred Customer"), (2, "Standard")];
const GENDER: &[(i32, &str)] = &[(1, "Male"), (2, "Female")];
const CONTACT_METHOD: &[(i32, &str)] = &[(1, "Any"), (2, "Email"), (3, "Phone"), (4, "Fax"), (5, "Mail")];
const PRIORITY: &[(i32, &str)] = &[(0, "Low"), (1, "Normal"), (2, "High")];
const TEAM_TYPE: &[(i32, &str)] = &[(0, "Owner"), (1, "Access"), (2, "Security Group"), (3, "Office Group")];

#[allow(clippy::too_many_arguments)]
fn col(
    name: &'static str,
    schema_name: &'static str,
    display: &'static str,
    kind: Kind,
    create: bool,
    update: bool,
    gen: Gen,
) -> Column {
    let wire = if matches!(kind, Kind::Lookup(..)) { format!("_{name}_value") } else { name.to_owned() };
    Column { name, schema_name, display, kind, role: Role::Data, create, update, required: "None", gen, wire }
}

fn with_role(mut c: Column, role: Role) -> Column {
    c.role = role;
    c.gen = Gen::Fixed;
    c
}

fn required(mut c: Column, level: &'static str) -> Column {
    c.required = level;
    c
}

fn system_columns(table: &'static str) -> Vec<Column> {
    let (cb, mb) = match table {
        "account" => ("lk_accountbase_createdby", "lk_accountbase_modifiedby"),
        "contact" => ("lk_contactbase_createdby", "lk_contactbase_modifiedby"),
        "task" => ("lk_task_createdby", "lk_task_modifiedby"),
        "team" => ("lk_teambase_createdby", "lk_teambase_modifiedby"),
        _ => ("lk_systemuserbase_createdby", "lk_systemuserbase_modifiedby"),
    };
    vec![
        with_role(
            col("createdon", "CreatedOn", "Created On", Kind::DateTime, false, false, Gen::Fixed),
            Role::CreatedOn,
        ),
        with_role(
            col("modifiedon", "ModifiedOn", "Modified On", Kind::DateTime, false, false, Gen::Fixed),
            Role::ModifiedOn,
        ),
        with_role(
            col("versionnumber", "VersionNumber", "Version Number", Kind::BigInt, false, false, Gen::Fixed),
            Role::Version,
        ),
        col(
            "createdby",
            "CreatedBy",
            "Created By",
            Kind::Lookup(LookupKind::Lookup, vec![Target { table: SYSTEMUSER, nav: "createdby", relationship: cb }]),
            false,
            false,
            Gen::User,
        ),
        col(
            "modifiedby",
            "ModifiedBy",
            "Modified By",
            Kind::Lookup(LookupKind::Lookup, vec![Target { table: SYSTEMUSER, nav: "modifiedby", relationship: mb }]),
            false,
            false,
            Gen::User,
        ),
    ]
}

fn owner(relationship: &'static str) -> Column {
    required(
        col(
            "ownerid",
            "OwnerId",
            "Owner",
            Kind::Lookup(
                LookupKind::Owner,
                vec![
                    Target { table: SYSTEMUSER, nav: "ownerid", relationship },
                    Target { table: TEAM, nav: "ownerid", relationship },
                ],
            ),
            true,
            true,
            Gen::Owner,
        ),
        "SystemRequired",
    )
}

impl Schema {
    /// Builds the emulated schema.
    #[must_use]
    pub fn new() -> Self {
        let pk = |name, schema, display| {
            with_role(col(name, schema, display, Kind::PrimaryKey, true, false, Gen::Fixed), Role::Pk)
        };

        let mut account = vec![
            pk("accountid", "AccountId", "Account"),
            required(
                col("name", "Name", "Account Name", Kind::String { max: 160 }, true, true, Gen::Company),
                "ApplicationRequired",
            ),
            col(
                "accountnumber",
                "AccountNumber",
                "Account Number",
                Kind::String { max: 20 },
                true,
                true,
                Gen::AccountNumber,
            ),
            col("telephone1", "Telephone1", "Main Phone", Kind::String { max: 50 }, true, true, Gen::Phone),
            col("emailaddress1", "EMailAddress1", "Email", Kind::String { max: 100 }, true, true, Gen::Email),
            col("description", "Description", "Description", Kind::Memo { max: 2000 }, true, true, Gen::Paragraph(260)),
            col("revenue", "Revenue", "Annual Revenue", Kind::Money, true, true, Gen::Amount(10_000, 50_000_000)),
            col(
                "new_discountrate",
                "new_DiscountRate",
                "Discount Rate",
                Kind::Decimal { precision: 2 },
                true,
                true,
                Gen::Amount(0, 40),
            ),
            col(
                "numberofemployees",
                "NumberOfEmployees",
                "Number of Employees",
                Kind::Integer { min: 0, max: 1_000_000_000 },
                true,
                true,
                Gen::Int(1, 20_000),
            ),
            col("new_foundedon", "new_FoundedOn", "Founded On", Kind::DateOnly, true, true, Gen::Date),
            col(
                "lastusedincampaign",
                "LastUsedInCampaign",
                "Last Date Included in Campaign",
                Kind::DateTime,
                true,
                true,
                Gen::Time,
            ),
            col("industrycode", "IndustryCode", "Industry", Kind::Picklist(INDUSTRY), true, true, Gen::Option),
            col(
                "accountcategorycode",
                "AccountCategoryCode",
                "Category",
                Kind::Picklist(ACCOUNT_CATEGORY),
                true,
                true,
                Gen::Option,
            ),
            col("creditonhold", "CreditOnHold", "Credit Hold", Kind::Boolean("No", "Yes"), true, true, Gen::Bool(100)),
            col(
                "donotemail",
                "DoNotEMail",
                "Do not allow Emails",
                Kind::Boolean("Allow", "Do Not Allow"),
                true,
                true,
                Gen::Bool(200),
            ),
            col(
                "parentaccountid",
                "ParentAccountId",
                "Parent Account",
                Kind::Lookup(
                    LookupKind::Lookup,
                    vec![Target { table: ACCOUNT, nav: "parentaccountid", relationship: "account_parent_account" }],
                ),
                true,
                true,
                Gen::Ref(250),
            ),
            col(
                "primarycontactid",
                "PrimaryContactId",
                "Primary Contact",
                Kind::Lookup(
                    LookupKind::Lookup,
                    vec![Target { table: CONTACT, nav: "primarycontactid", relationship: "account_primary_contact" }],
                ),
                true,
                true,
                Gen::Ref(600),
            ),
            owner("owner_accounts"),
            col("statecode", "StateCode", "Status", Kind::State(STATE_ACTIVE), false, true, Gen::Option),
            col("statuscode", "StatusCode", "Status Reason", Kind::Status(STATUS_ACTIVE), true, true, Gen::Option),
        ];
        account.extend(system_columns("account"));

        let mut contact = vec![
            pk("contactid", "ContactId", "Contact"),
            col("firstname", "FirstName", "First Name", Kind::String { max: 50 }, true, true, Gen::FirstName),
            required(
                col("lastname", "LastName", "Last Name", Kind::String { max: 50 }, true, true, Gen::LastName),
                "ApplicationRequired",
            ),
            with_role(
                col("fullname", "FullName", "Full Name", Kind::String { max: 160 }, false, false, Gen::Fixed),
                Role::FullName,
            ),
            col("emailaddress1", "EMailAddress1", "Email", Kind::String { max: 100 }, true, true, Gen::Email),
            col("telephone1", "Telephone1", "Business Phone", Kind::String { max: 50 }, true, true, Gen::Phone),
            col("jobtitle", "JobTitle", "Job Title", Kind::String { max: 100 }, true, true, Gen::JobTitle),
            col("description", "Description", "Description", Kind::Memo { max: 2000 }, true, true, Gen::Paragraph(240)),
            col("annualincome", "AnnualIncome", "Annual Income", Kind::Money, true, true, Gen::Amount(20_000, 400_000)),
            col(
                "new_loyaltyscore",
                "new_LoyaltyScore",
                "Loyalty Score",
                Kind::Decimal { precision: 2 },
                true,
                true,
                Gen::Amount(0, 100),
            ),
            col(
                "numberofchildren",
                "NumberOfChildren",
                "No. of Children",
                Kind::Integer { min: 0, max: 1_000_000_000 },
                true,
                true,
                Gen::Int(0, 5),
            ),
            col("birthdate", "BirthDate", "Birthday", Kind::DateOnly, true, true, Gen::Date),
            col(
                "lastusedincampaign",
                "LastUsedInCampaign",
                "Last Date Included in Campaign",
                Kind::DateTime,
                true,
                true,
                Gen::Time,
            ),
            col("gendercode", "GenderCode", "Gender", Kind::Picklist(GENDER), true, true, Gen::Option),
            col(
                "preferredcontactmethodcode",
                "PreferredContactMethodCode",
                "Preferred Method of Contact",
                Kind::Picklist(CONTACT_METHOD),
                true,
                true,
                Gen::Option,
            ),
            col(
                "donotphone",
                "DoNotPhone",
                "Do not allow Phone Calls",
                Kind::Boolean("Allow", "Do Not Allow"),
                true,
                true,
                Gen::Bool(150),
            ),
            col(
                "parentcustomerid",
                "ParentCustomerId",
                "Company Name",
                Kind::Lookup(
                    LookupKind::Customer,
                    vec![
                        Target {
                            table: ACCOUNT,
                            nav: "parentcustomerid_account",
                            relationship: "contact_customer_accounts",
                        },
                        Target {
                            table: CONTACT,
                            nav: "parentcustomerid_contact",
                            relationship: "contact_customer_contacts",
                        },
                    ],
                ),
                true,
                true,
                Gen::Ref(850),
            ),
            owner("owner_contacts"),
            col("statecode", "StateCode", "Status", Kind::State(STATE_ACTIVE), false, true, Gen::Option),
            col("statuscode", "StatusCode", "Status Reason", Kind::Status(STATUS_ACTIVE), true, true, Gen::Option),
        ];
        contact.extend(system_columns("contact"));

        let mut task = vec![
            pk("activityid", "ActivityId", "Task"),
            required(
                col("subject", "Subject", "Subject", Kind::String { max: 200 }, true, true, Gen::Sentence),
                "ApplicationRequired",
            ),
            col("description", "Description", "Description", Kind::Memo { max: 2000 }, true, true, Gen::Paragraph(300)),
            col("scheduledstart", "ScheduledStart", "Start Date", Kind::DateTime, true, true, Gen::Time),
            col("scheduledend", "ScheduledEnd", "Due Date", Kind::DateTime, true, true, Gen::Time),
            col("new_followupon", "new_FollowUpOn", "Follow Up On", Kind::DateOnly, true, true, Gen::Date),
            col(
                "percentcomplete",
                "PercentComplete",
                "Percent Complete",
                Kind::Integer { min: 0, max: 100 },
                true,
                true,
                Gen::Int(0, 100),
            ),
            col(
                "new_estimatedcost",
                "new_EstimatedCost",
                "Estimated Cost",
                Kind::Money,
                true,
                true,
                Gen::Amount(50, 20_000),
            ),
            col(
                "new_effort",
                "new_Effort",
                "Effort (days)",
                Kind::Decimal { precision: 2 },
                true,
                true,
                Gen::Amount(0, 30),
            ),
            col("prioritycode", "PriorityCode", "Priority", Kind::Picklist(PRIORITY), true, true, Gen::Option),
            col("isbilled", "IsBilled", "Is Billed", Kind::Boolean("No", "Yes"), true, true, Gen::Bool(300)),
            col(
                "regardingobjectid",
                "RegardingObjectId",
                "Regarding",
                Kind::Lookup(
                    LookupKind::Lookup,
                    vec![
                        Target { table: ACCOUNT, nav: "regardingobjectid_account_task", relationship: "Account_Tasks" },
                        Target { table: CONTACT, nav: "regardingobjectid_contact_task", relationship: "Contact_Tasks" },
                    ],
                ),
                true,
                true,
                Gen::Ref(900),
            ),
            owner("owner_tasks"),
            col("statecode", "StateCode", "Activity Status", Kind::State(TASK_STATE), false, true, Gen::Option),
            col("statuscode", "StatusCode", "Status Reason", Kind::Status(TASK_STATUS), true, true, Gen::Option),
        ];
        task.extend(system_columns("task"));

        let mut systemuser = vec![
            pk("systemuserid", "SystemUserId", "User"),
            col("fullname", "FullName", "Full Name", Kind::String { max: 200 }, false, false, Gen::Null),
            col("domainname", "DomainName", "User Name", Kind::String { max: 1024 }, true, true, Gen::Null),
            col(
                "internalemailaddress",
                "InternalEMailAddress",
                "Primary Email",
                Kind::String { max: 100 },
                true,
                true,
                Gen::Null,
            ),
            col(
                "azureactivedirectoryobjectid",
                "AzureActiveDirectoryObjectId",
                "Azure AD Object ID",
                Kind::Guid,
                true,
                false,
                Gen::Null,
            ),
            col("isdisabled", "IsDisabled", "Status", Kind::Boolean("Enabled", "Disabled"), false, false, Gen::Null),
        ];
        systemuser.extend(system_columns("systemuser"));

        let mut team = vec![
            pk("teamid", "TeamId", "Team"),
            required(
                col("name", "Name", "Team Name", Kind::String { max: 160 }, true, true, Gen::Null),
                "SystemRequired",
            ),
            col("teamtype", "TeamType", "Team Type", Kind::Picklist(TEAM_TYPE), true, false, Gen::Null),
        ];
        team.extend(system_columns("team"));

        let table = |id,
                     logical,
                     set,
                     schema_name,
                     display,
                     display_plural,
                     otc,
                     ownership,
                     is_activity,
                     columns,
                     primary_name| TableDef {
            id,
            logical,
            set,
            schema_name,
            display,
            display_plural,
            otc,
            metadata_id: codec::derived_guid(0x4d45_5441, otc as u64, 7),
            ownership,
            is_activity,
            columns,
            primary_name,
        };
        Schema {
            tables: vec![
                table(
                    ACCOUNT,
                    "account",
                    "accounts",
                    "Account",
                    "Account",
                    "Accounts",
                    1,
                    "UserOwned",
                    false,
                    account,
                    1,
                ),
                table(
                    CONTACT,
                    "contact",
                    "contacts",
                    "Contact",
                    "Contact",
                    "Contacts",
                    2,
                    "UserOwned",
                    false,
                    contact,
                    3,
                ),
                table(TASK, "task", "tasks", "Task", "Task", "Tasks", 4212, "UserOwned", true, task, 1),
                table(
                    SYSTEMUSER,
                    "systemuser",
                    "systemusers",
                    "SystemUser",
                    "User",
                    "Users",
                    8,
                    "BusinessOwned",
                    false,
                    systemuser,
                    1,
                ),
                table(TEAM, "team", "teams", "Team", "Team", "Teams", 9, "BusinessOwned", false, team, 1),
            ],
        }
    }

    /// Table by entity set name.
    pub fn by_set(&self, set: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.set == set)
    }

    /// Table by logical name.
    pub fn by_logical(&self, logical: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.logical == logical)
    }
}

impl Default for Schema {
    fn default() -> Self {
        Self::new()
    }
}
