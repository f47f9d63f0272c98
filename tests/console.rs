//! The web console through a real server on an ephemeral port over real sled files: its sign-in,
//! sessions and refusals over plain HTTP, then the desk's and the auditor's work in a real headless
//! Chromium driven through WebDriver (Debian's `chromium` and `chromium-driver`, which `.ci/run`
//! installs). Screenshots of every page are kept in `target/console-screenshots/`.

use crate::http::{start, Server, ADMIN, AUDITOR, PUBLISHER};
use fantoccini::{Client as Browser, ClientBuilder, Locator};
use reqwest::{redirect, Client, StatusCode};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A client that does not follow redirects, so each answer is seen as the server gave it.
fn plain() -> Client {
    Client::builder().redirect(redirect::Policy::none()).build().unwrap()
}

/// Signs in with `token`; returns the session cookie (`name=value`) and the whole `Set-Cookie`.
async fn sign_in(s: &Server, token: &str, forwarded_https: bool) -> (StatusCode, Option<String>, String) {
    let mut request = plain().post(format!("{}/console/login", s.base)).form(&[("token", token)]);
    if forwarded_https {
        request = request.header("x-forwarded-proto", "https");
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let set_cookie = response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let cookie = set_cookie.split(';').next().filter(|c| c.starts_with("redress_session=")).map(str::to_owned);
    (status, cookie, set_cookie)
}

async fn get(s: &Server, path: &str, cookie: &str) -> (StatusCode, String, reqwest::header::HeaderMap) {
    let response = plain().get(format!("{}{path}", s.base)).header("cookie", cookie).send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

async fn post(s: &Server, path: &str, cookie: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let response = plain().post(format!("{}{path}", s.base)).header("cookie", cookie).form(form).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The CSRF token a signed-in page carries (in its sign-out form).
fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("the page carries a CSRF token") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

async fn one_complaint(s: &Server, id: &str) -> u64 {
    let (status, body) = s
        .call(
            reqwest::Method::POST,
            &format!("/streams/complaint-{id}/events"),
            Some(PUBLISHER),
            Some(json!({"expected_version": "no_stream", "events": [crate::http::received_json(id)]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    s.settle().await;
    body["last_version"].as_u64().unwrap()
}

async fn stream_length(s: &Server, id: &str) -> usize {
    let (_, body) =
        s.call(reqwest::Method::GET, &format!("/streams/complaint-{id}?limit=1000"), Some(AUDITOR), None).await;
    body["events"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_sets_an_http_only_strict_cookie_and_a_bad_token_gets_401_and_no_session() {
    let s = start().await;
    let (status, cookie, _) = sign_in(&s, "not-a-token-at-all-000", false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(cookie.is_none(), "no session for a bad token");

    let (status, cookie, set_cookie) = sign_in(&s, PUBLISHER, false).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(cookie.is_some());
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set_cookie.contains(flag), "{flag} in {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP: no Secure flag, or the browser would drop it");
    let (_, _, behind_tls) = sign_in(&s, PUBLISHER, true).await;
    assert!(behind_tls.contains("; Secure"), "behind TLS the cookie is Secure: {behind_tls}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_pages_send_you_to_sign_in_and_posts_are_401() {
    let s = start().await;
    let (status, _, headers) = get(&s, "/console/needs-attention", "redress_session=forged").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/console/login");
    let (status, _) = post(&s, "/console/complaints/c1/assign", "", &[("assignee", "x")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, html, headers) = get(&s, "/console/login", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"lang="zh-CN""#), "Chinese by default");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_post_without_the_csrf_token_or_from_an_auditor_is_403_and_writes_nothing() {
    let s = start().await;
    let version = one_complaint(&s, "c1").await;
    let (_, publisher, _) = sign_in(&s, PUBLISHER, false).await;
    let publisher = publisher.unwrap();
    let (_, page, _) = get(&s, "/console/complaints/c1", &publisher).await;
    let csrf = csrf_of(&page);
    let version = version.to_string();

    let (status, _) =
        post(&s, "/console/complaints/c1/assign", &publisher, &[("assignee", "agent-x"), ("version", &version)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");
    let (status, _) = post(
        &s,
        "/console/complaints/c1/assign",
        &publisher,
        &[("assignee", "agent-x"), ("version", &version), ("csrf", "forged-token")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a wrong CSRF token");

    let (_, auditor, _) = sign_in(&s, AUDITOR, false).await;
    let auditor = auditor.unwrap();
    let (_, auditor_page, _) = get(&s, "/console/complaints/c1", &auditor).await;
    assert!(!auditor_page.contains("assign-form"), "an auditor sees no write control");
    assert!(auditor_page.contains("read-only"));
    let auditor_csrf = csrf_of(&auditor_page);
    let (status, _) = post(
        &s,
        "/console/complaints/c1/assign",
        &auditor,
        &[("assignee", "agent-x"), ("version", &version), ("csrf", &auditor_csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the server refuses an auditor's crafted post");
    assert_eq!(stream_length(&s, "c1").await, 1, "nothing was written");

    let (status, _) = post(
        &s,
        "/console/complaints/c1/assign",
        &publisher,
        &[("assignee", "agent-x"), ("version", &version), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the publisher's own form is accepted");
    assert_eq!(stream_length(&s, "c1").await, 2);
    let (_, events) = s.call(reqwest::Method::GET, "/streams/complaint-c1?limit=10", Some(AUDITOR), None).await;
    let assigned = &events["events"][1];
    assert_eq!(assigned["recorded_by"], "publisher", "the server stamps the session's credential: {assigned}");
    assert_eq!(assigned["metadata"]["source"], "console");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_over_someone_elses_change_is_refused_by_version_and_the_page_says_why() {
    let s = start().await;
    let version = one_complaint(&s, "c1").await.to_string();
    let (_, cookie, _) = sign_in(&s, PUBLISHER, false).await;
    let cookie = cookie.unwrap();
    let (_, page, _) = get(&s, "/console/complaints/c1", &cookie).await;
    let csrf = csrf_of(&page);
    let form = [("assignee", "agent-a"), ("version", version.as_str()), ("csrf", csrf.as_str())];
    let (status, _) = post(&s, "/console/complaints/c1/assign", &cookie, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let response =
        plain().post(format!("{}/console/complaints/c1/assign", s.base)).header("cookie", &cookie).form(&form);
    let response = response.send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("failed=assign"), "the stale form is refused: {location}");
    assert_eq!(stream_length(&s, "c1").await, 2, "only the first assignment was written");
    let (_, page, _) = get(&s, &location, &cookie).await;
    assert!(page.contains(r#"id="notice""#) && page.contains("version"), "the page says why");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_admin_may_rebuild_from_the_console_and_only_with_the_csrf_token() {
    let s = start().await;
    let (_, auditor, _) = sign_in(&s, AUDITOR, false).await;
    let auditor = auditor.unwrap();
    let (status, page, _) = get(&s, "/console/operations", &auditor).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("/console/operations/rebuild/"), "no rebuild control for an auditor");
    let (status, _) =
        post(&s, "/console/operations/rebuild/open-complaints", &auditor, &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, admin, _) = sign_in(&s, ADMIN, false).await;
    let admin = admin.unwrap();
    let (_, page, _) = get(&s, "/console/operations", &admin).await;
    assert!(page.contains("/console/operations/rebuild/open-complaints"));
    let (status, _) = post(&s, "/console/operations/rebuild/open-complaints", &admin, &[("csrf", "forged")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a forged CSRF token");
    let (status, _) =
        post(&s, "/console/operations/rebuild/open-complaints", &admin, &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let (_, publisher, _) = sign_in(&s, PUBLISHER, false).await;
    let (status, page, _) = get(&s, "/console/audit", &publisher.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a publisher may not audit");
    assert!(!page.contains(r#"id="verify""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_ends_the_session_and_the_language_switch_only_goes_back_into_the_console() {
    let s = start().await;
    let (_, cookie, _) = sign_in(&s, ADMIN, false).await;
    let cookie = cookie.unwrap();
    let (status, page, _) = get(&s, "/console/open-complaints", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(&s, "/console/logout", &cookie, &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = get(&s, "/console/open-complaints", &cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the old cookie no longer signs in");

    let (status, _, headers) = get(&s, "/console/lang?to=en&back=https://evil.example/", "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/console");
    let (_, _, headers) = get(&s, "/console/lang?to=en&back=/console/open-complaints?owner=a", "").await;
    assert_eq!(headers["location"], "/console/open-complaints?owner=a");
    assert!(headers["set-cookie"].to_str().unwrap().starts_with("redress_lang=en"));
}

// ---------------------------------------------------------------- the browser

/// A chromedriver on a free local port; killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let binary = std::env::var("REDRESS_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{binary} could not start ({e}): install Debian's chromium and chromium-driver (.ci/run does)")
        });
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver { child, url: format!("http://127.0.0.1:{port}") }
}

async fn browser(driver: &Driver) -> Browser {
    let mut capabilities = serde_json::Map::new();
    let mut options = json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--window-size=1366,900", "--lang=zh-CN"]});
    if let Ok(binary) = std::env::var("REDRESS_CHROMIUM") {
        options["binary"] = json!(binary);
    } else if std::path::Path::new("/usr/bin/chromium").exists() {
        options["binary"] = json!("/usr/bin/chromium");
    }
    capabilities.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session in headless Chromium")
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(b: &Browser, name: &str) {
    let png = b.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn text_of(b: &Browser, css: &str) -> String {
    b.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
}

/// Waits until `check` holds for the text at `css` (the page changes by itself).
async fn wait_text(b: &Browser, css: &str, check: impl Fn(&str) -> bool, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = match b.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if check(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "{what}: {css} shows {text:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_in_browser(b: &Browser, base: &str, token: &str) {
    b.goto(&format!("{base}/console/login")).await.unwrap();
    b.find(Locator::Id("token")).await.unwrap().send_keys(token).await.unwrap();
    b.find(Locator::Id("sign-in")).await.unwrap().click().await.unwrap();
    wait_text(b, "h1", |t| !t.is_empty() && !t.contains("登录"), "signed in").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser_a_supervisor_assigns_live_an_auditor_cannot_write_and_replays_the_past() {
    let s = start().await;
    redress_adapters::cli::demo(&*s.store, 300, 11).await.expect("the demo loads");
    s.settle().await;
    let driver = chromedriver();
    let b = browser(&driver).await;

    // A supervisor: sign in, filter needs-attention, open a complaint, assign it.
    sign_in_browser(&b, &s.base, PUBLISHER).await;
    b.goto(&format!("{}/console/needs-attention", s.base)).await.unwrap();
    assert_eq!(b.find(Locator::Css("html")).await.unwrap().attr("lang").await.unwrap().as_deref(), Some("zh-CN"));
    screenshot(&b, "needs-attention").await;
    let all: u64 = text_of(&b, "#count").await.parse().unwrap();
    b.find(Locator::Css("select[name=reason]")).await.unwrap().select_by_value("overdue").await.unwrap();
    b.find(Locator::Id("apply-filters")).await.unwrap().click().await.unwrap();
    wait_text(&b, "#live-status", |t| !t.is_empty(), "the filtered page").await;
    assert!(b.current_url().await.unwrap().as_str().contains("reason=overdue"));
    let overdue: u64 = text_of(&b, "#count").await.parse().unwrap();
    assert!(overdue > 0 && overdue <= all, "overdue {overdue} of {all}");
    let (_, api) =
        s.call(reqwest::Method::GET, "/projections/needs-attention?reason=overdue&limit=1", Some(AUDITOR), None).await;
    assert_eq!(api["count"].as_u64(), Some(overdue), "the page shows the view's count");
    let row = b.find(Locator::Css("tbody#rows tr[data-complaint]")).await.unwrap();
    let complaint_id = row.attr("data-complaint").await.unwrap().unwrap();
    let list = b.window().await.unwrap();

    let detail = b.new_window(true).await.unwrap();
    b.switch_to_window(detail.handle).await.unwrap();
    b.goto(&format!("{}/console/complaints/{complaint_id}", s.base)).await.unwrap();
    assert_eq!(text_of(&b, "#complaint-id").await, complaint_id);
    assert!(b.find(Locator::Css("svg.timeline circle.event")).await.is_ok(), "events on the time axis");
    screenshot(&b, "complaint").await;
    let form = b.form(Locator::Id("assign-form")).await.unwrap();
    form.set_by_name("assignee", "agent-console-test").await.unwrap();
    form.set_by_name("team", "escalations").await.unwrap();
    form.submit().await.unwrap();
    wait_text(&b, "#notice", |t| !t.is_empty(), "the assignment is saved").await;
    assert_eq!(b.find(Locator::Id("notice")).await.unwrap().attr("class").await.unwrap().as_deref(), Some("ok"));
    assert_eq!(text_of(&b, "#owner").await, "agent-console-test");

    // The list, never reloaded, shows the new owner.
    b.switch_to_window(list.clone()).await.unwrap();
    let owner_cell = format!("tbody#rows tr[data-complaint='{complaint_id}'] td.owner");
    wait_text(&b, &owner_cell, |t| t == "agent-console-test", "the live list").await;

    // Language.
    b.find(Locator::Id("lang")).await.unwrap().click().await.unwrap();
    wait_text(&b, "h1", |t| t == "Needs attention", "the English page").await;
    assert_eq!(b.find(Locator::Css("html")).await.unwrap().attr("lang").await.unwrap().as_deref(), Some("en"));
    assert!(b.current_url().await.unwrap().as_str().contains("reason=overdue"), "the switch keeps the filters");
    screenshot(&b, "needs-attention-en").await;
    b.find(Locator::Id("lang")).await.unwrap().click().await.unwrap();
    wait_text(&b, "h1", |t| t == "需要关注", "back to Chinese").await;

    // Open complaints and a customer.
    b.goto(&format!("{}/console/open-complaints?severity=high", s.base)).await.unwrap();
    screenshot(&b, "open-complaints").await;
    let customer = b.find(Locator::Css("tbody#rows td a[href^='/console/customers/']")).await;
    if let Ok(customer) = customer {
        customer.click().await.unwrap();
        wait_text(&b, "h1", |t| t == "客户历史", "the customer page").await;
        screenshot(&b, "customer").await;
    }

    // The reading pages: each renders its view's numbers, charts drawn by the vendored uPlot.
    b.goto(&format!("{}/console/problems", s.base)).await.unwrap();
    let problems = b.find_all(Locator::Css("section.problem")).await.unwrap();
    let (_, api) = s.call(reqwest::Method::GET, "/projections/problems?limit=50", Some(AUDITOR), None).await;
    assert_eq!(problems.len(), api["problems"].as_array().unwrap().len(), "one section per problem");
    if !problems.is_empty() {
        let first = &api["problems"][0];
        assert_eq!(text_of(&b, "section.problem .linked").await, first["linked_count"].to_string());
        assert!(b.find(Locator::Css("section.problem .chart canvas")).await.is_ok(), "uPlot drew the chart offline");
    }
    screenshot(&b, "problems").await;
    b.goto(&format!("{}/console/satisfaction?group_by=owner", s.base)).await.unwrap();
    let rows = b.find_all(Locator::Css("#satisfaction tbody tr")).await.unwrap();
    let (_, api) = s.call(reqwest::Method::GET, "/projections/satisfaction?group_by=owner", Some(AUDITOR), None).await;
    assert_eq!(rows.len(), api["groups"].as_array().unwrap().len().max(1));
    assert!(b.find(Locator::Css("#chart-satisfaction canvas")).await.is_ok());
    screenshot(&b, "satisfaction").await;
    b.goto(&format!("{}/console/suggestions", s.base)).await.unwrap();
    b.find(Locator::Id("complaint-text")).await.unwrap().send_keys("打印机一直卡纸，换了纸也不行").await.unwrap();
    b.find(Locator::Id("suggest")).await.unwrap().click().await.unwrap();
    wait_text(&b, "#suggestions", |t| !t.is_empty(), "suggestions").await;
    screenshot(&b, "suggestions").await;
    b.goto(&format!("{}/console/answer-gaps", s.base)).await.unwrap();
    assert!(b.find(Locator::Id("gaps")).await.is_ok());
    screenshot(&b, "answer-gaps").await;
    b.goto(&format!("{}/console/operations", s.base)).await.unwrap();
    let names = b.find_all(Locator::Css("#projections tbody tr")).await.unwrap();
    assert!(names.len() >= 5, "every projection is listed");
    assert!(b.find_all(Locator::Css("#projections form")).await.unwrap().is_empty(), "only admins get rebuild");
    screenshot(&b, "operations").await;
    b.goto(&format!("{}/console/audit", s.base)).await.unwrap();
    assert!(b.find(Locator::Id("read-only")).await.is_ok(), "a publisher may not audit");

    b.find(Locator::Id("sign-out")).await.unwrap().click().await.unwrap();
    wait_text(&b, "h1", |t| t == "登录", "signed out").await;

    // An auditor: no control that writes, and the server refuses a crafted post.
    sign_in_browser(&b, &s.base, AUDITOR).await;
    b.goto(&format!("{}/console/complaints/{complaint_id}", s.base)).await.unwrap();
    assert!(b.find(Locator::Id("read-only")).await.is_ok());
    let forms = b.find_all(Locator::Css("main form")).await.unwrap();
    assert!(forms.is_empty(), "an auditor's complaint page has no form");
    let status = b
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               const csrf = document.querySelector('input[name=csrf]').value;
               const body = new URLSearchParams({assignee: 'mallory', version: '0', csrf});
               fetch(location.pathname + '/assign', {method: 'POST', body, redirect: 'manual'})
                 .then(r => done(r.status));"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, json!(403), "the crafted post is refused by the server");

    // The auditor verifies the chain: the page shows every event of the log.
    b.goto(&format!("{}/console/audit", s.base)).await.unwrap();
    b.find(Locator::Id("verify")).await.unwrap().click().await.unwrap();
    let verified = wait_text(&b, "#verified-events", |t| !t.is_empty(), "the verification").await;
    assert_eq!(verified, (s.head().await.unwrap() + 1).to_string(), "every event verified");
    screenshot(&b, "audit").await;

    // Replay as of a past date: the banner, and the numbers /audit/replay gives.
    // The demo year ends now; 200 days ago its desk was busy.
    let as_of = redress_schemas::Timestamp::now().plus_seconds(-200 * 86_400).to_rfc3339();
    let query = serde_urlencoded_pair("as_of", &as_of);
    b.goto(&format!("{}/console/open-complaints?{query}", s.base)).await.unwrap();
    let shown = text_of(&b, "#as-of").await;
    assert_eq!(shown, redress_schemas::Timestamp::parse(&as_of).unwrap().to_rfc3339());
    let replayed: u64 = text_of(&b, "#count").await.parse().unwrap();
    let (status, replay) = s
        .call(
            reqwest::Method::GET,
            &format!("/audit/replay?projection=open-complaints&{query}&limit=1"),
            Some(AUDITOR),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replay}");
    assert_eq!(replay["count"].as_u64(), Some(replayed), "the replayed page shows /audit/replay's numbers");
    screenshot(&b, "open-complaints-as-of").await;

    // A tablet held upright (820 × 1180 CSS pixels): every page fits its width, wide tables scroll
    // inside themselves rather than the page sideways.
    b.set_window_size(820, 1180).await.unwrap();
    for (page, name) in [
        ("/console/needs-attention", "tablet-needs-attention"),
        ("/console/open-complaints", "tablet-open-complaints"),
        ("/console/satisfaction", "tablet-satisfaction"),
        ("/console/operations", "tablet-operations"),
    ] {
        b.goto(&format!("{}{page}", s.base)).await.unwrap();
        let widths = b
            .execute("return [document.documentElement.scrollWidth, document.documentElement.clientWidth];", vec![])
            .await
            .unwrap();
        let (scroll, client) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
        assert!(scroll <= client, "{page} on a tablet: the page is {scroll} px wide in a {client} px window");
        screenshot(&b, name).await;
    }
    b.close().await.unwrap();
}

fn serde_urlencoded_pair(key: &str, value: &str) -> String {
    let value: String = value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("{key}={value}")
}

/// Signs in to the console of the server at `base` with `token`; returns the session cookie.
async fn sign_in_at(base: &str, token: &str) -> String {
    let response = plain().post(format!("{base}/console/login")).form(&[("token", token)]).send().await.unwrap();
    let set_cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn page_at(base: &str, path: &str, cookie: &str) -> (StatusCode, String) {
    let response = plain().get(format!("{base}{path}")).header("cookie", cookie).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn post_at(base: &str, path: &str, cookie: &str, form: &[(&str, &str)]) -> (StatusCode, Option<String>) {
    let response = plain().post(format!("{base}{path}")).header("cookie", cookie).form(form).send().await.unwrap();
    let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
    (response.status(), location)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_page_shows_the_signed_checkpoint_an_admin_erases_from_it_and_retries_parked_events() {
    use crate::subscriptions::{call, serve, ADMIN, AUDITOR, PUBLISHER};
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let server = tokio::task::spawn_blocking(move || serve(&path, &[])).await.unwrap();
    let base = server.base.clone();
    let received = json!({"event_type": "complaint_received", "data": {
        "complaint_id": "ER1", "customer_id": "K-ERASE-1", "channel": "web", "category": "delivery",
        "severity": "high", "description": "call me on 13800138000"}});
    let (status, _) =
        call(&base, Method::POST, "/streams/complaint-ER1/events", PUBLISHER, Some(json!({"events": [received]})))
            .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, checkpoint) = call(&base, Method::GET, "/audit/checkpoint", AUDITOR, None).await;

    // The auditor sees the checkpoint, and no erasure control; a crafted post is refused.
    let auditor = sign_in_at(&base, AUDITOR).await;
    let (status, page) = page_at(&base, "/console/audit", &auditor).await;
    assert_eq!(status, StatusCode::OK);
    let position = format!(r#"id="checkpoint-position">{}<"#, checkpoint["position"]);
    assert!(page.contains(&position), "the page shows the signed checkpoint {checkpoint}");
    assert!(page.contains(checkpoint["public_key"].as_str().unwrap()));
    assert!(!page.contains("/console/audit/erase"), "no erasure form for an auditor");
    let form = [
        ("csrf", csrf_of(&page)),
        ("customer_id", "K-ERASE-1".into()),
        ("requested_by", "x".into()),
        ("legal_basis", "y".into()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(post_at(&base, "/console/audit/erase", &auditor, &form).await.0, StatusCode::FORBIDDEN);
    let (_, stream) = call(&base, Method::GET, "/streams/complaint-ER1", AUDITOR, None).await;
    assert_eq!(stream["events"][0]["data"]["description"], "call me on 13800138000", "nothing erased");

    // The admin erases from the form: the texts read as erased, the page names the pseudonym.
    let admin = sign_in_at(&base, ADMIN).await;
    let (_, page) = page_at(&base, "/console/audit", &admin).await;
    assert!(page.contains(r#"action="/console/audit/erase""#));
    let csrf = csrf_of(&page);
    let blank =
        [("csrf", csrf.as_str()), ("customer_id", "K-ERASE-1"), ("requested_by", " "), ("legal_basis", "GDPR Art. 17")];
    assert_eq!(post_at(&base, "/console/audit/erase", &admin, &blank).await.0, StatusCode::BAD_REQUEST);
    let good = [
        ("csrf", csrf.as_str()),
        ("customer_id", "K-ERASE-1"),
        ("requested_by", "the customer"),
        ("legal_basis", "GDPR Art. 17"),
    ];
    let (status, location) = post_at(&base, "/console/audit/erase", &admin, &good).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    assert!(location.starts_with("/console/audit?erased="), "{location}");
    let (_, page) = page_at(&base, &location, &admin).await;
    assert!(page.contains(r#"id="erased""#));
    let (_, stream) = call(&base, Method::GET, "/streams/complaint-ER1", AUDITOR, None).await;
    assert_eq!(stream["events"][0]["data"]["description"], "[erased]");
    assert_eq!(post_at(&base, "/console/audit/erase", &admin, &good).await.0, StatusCode::UNPROCESSABLE_ENTITY, "once");

    // Operations: a subscription with a parked event; the admin puts it back into delivery.
    let (status, _) = call(&base, Method::PUT, "/subscriptions/ops-sub", ADMIN, Some(json!({"max_attempts": 1}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, fetched) =
        call(&base, Method::POST, "/subscriptions/ops-sub/fetch", PUBLISHER, Some(json!({"max": 1, "wait_ms": 0})))
            .await;
    let position = fetched["events"][0]["position"].as_u64().unwrap();
    let nack = json!({"positions": [position], "park": true});
    call(&base, Method::POST, "/subscriptions/ops-sub/nack", PUBLISHER, Some(nack)).await;
    let (_, page) = page_at(&base, "/console/operations", &auditor).await;
    assert!(page.contains("ops-sub") && !page.contains("/retry"), "the auditor sees it and no retry control");
    let (_, page) = page_at(&base, "/console/operations", &admin).await;
    assert!(page.contains(r#"action="/console/operations/subscriptions/ops-sub/retry""#));
    let (status, _) =
        post_at(&base, "/console/operations/subscriptions/ops-sub/retry", &admin, &[("csrf", "forged")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, state) = call(&base, Method::GET, "/subscriptions/ops-sub", ADMIN, None).await;
    assert_eq!(state["parked"], 1, "a forged post retried nothing");
    let (status, _) =
        post_at(&base, "/console/operations/subscriptions/ops-sub/retry", &admin, &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, state) = call(&base, Method::GET, "/subscriptions/ops-sub", ADMIN, None).await;
    // Owed again: the retried event, and the erasure after it, not fetched yet.
    assert_eq!((state["parked"].clone(), state["pending"].clone()), (json!(0), json!(2)), "{state}");
    assert!(server.terminate().success());
}
