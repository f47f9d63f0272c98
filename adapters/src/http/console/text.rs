//! The console's words in each language it speaks. One enum of messages, so a page cannot ask for a
//! message that has no translation: adding a variant without both texts does not compile.

/// A language of the console. Chinese is the default: the desks this serves work in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// The language a `redress_lang` cookie value names; anything else is the default.
    pub fn from_code(code: &str) -> Lang {
        match code {
            "en" => Lang::En,
            _ => Lang::Zh,
        }
    }

    /// The value kept in the cookie and given to `/console/lang`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The BCP 47 tag of the page (`<html lang>`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language, offered by the switch in the header.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }
}

/// The words for the codes the views answer with (statuses, reasons, event types, severities,
/// channels). English shows the code with spaces; Chinese the desk's word; an unknown code itself.
pub fn code_label(code: &str, lang: Lang) -> String {
    if lang == Lang::En {
        return code.replace('_', " ");
    }
    let word = match code {
        "overdue" => "已超期",
        "update_due_soon" => "即将需要更新",
        "key_customer_not_visited" => "重点客户未拜访",
        "issue_persists" => "回访发现问题仍在",
        "watch_word" => "敏感词",
        "acknowledgement" => "受理",
        "resolution" => "解决",
        "promise" => "承诺",
        "update" => "更新",
        "received" => "已收到",
        "acknowledged" => "已受理",
        "investigating" => "调查中",
        "solution_proposed" => "已提出方案",
        "in_progress" => "处理中",
        "resolved" => "已解决",
        "confirmed" => "已确认",
        "closed" => "已关闭",
        "low" => "低",
        "normal" => "一般",
        "high" => "高",
        "critical" => "紧急",
        "hotline" => "热线",
        "email" => "邮件",
        "web" => "网站",
        "letter" => "信件",
        "in_person" => "当面",
        "survey" => "调查",
        "social" => "社交媒体",
        "phone" => "电话",
        "sms" => "短信",
        "visit" => "上门",
        "standard" => "普通",
        "key" => "重点",
        "complaint_received" => "收到投诉",
        "complaint_acknowledged" => "受理",
        "apology_sent" => "致歉",
        "cause_analyzed" => "原因分析",
        "solution_offered" => "提出方案",
        "solution_accepted" => "接受方案",
        "solution_rejected" => "拒绝方案",
        "commitment_made" => "作出承诺",
        "progress_updated" => "进展更新",
        "escalated" => "升级",
        "standard_answer_used" => "使用标准答复",
        "solution_delivered" => "方案已执行",
        "resolution_confirmed" => "客户确认",
        "revisit_done" => "回访",
        "apology_visit_made" => "道歉拜访",
        "complaint_reopened" => "重新打开",
        "complaint_closed" => "关闭",
        "complaint_assigned" => "分派",
        "waiting_on_customer" => "等待客户",
        "customer_responded" => "客户回复",
        "complaint_linked" => "关联",
        "department" => "部门",
        "category" => "类别",
        "channel" => "渠道",
        "owner" => "负责人",
        "team" => "团队",
        "recorded_by" => "录入凭据",
        "unrecorded" => "未记录",
        "rising" => "上升",
        "falling" => "下降",
        "steady" => "平稳",
        "identified" => "已确认",
        "action_taken" => "已整改",
        "weak_match" => "匹配弱",
        "no_answer_in_category" => "该类别无答复",
        other => return other.to_owned(),
    };
    word.to_owned()
}

macro_rules! messages {
    ($($name:ident => ($zh:literal, $en:literal),)*) => {
        /// A message of the console, in every language.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Msg { $($name,)* }

        impl Msg {
            /// Every message, for the test that no text is blank.
            #[cfg(test)]
            pub const ALL: &'static [Msg] = &[$(Msg::$name,)*];

            /// The message in `lang`.
            pub fn in_lang(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((Msg::$name, Lang::Zh) => $zh, (Msg::$name, Lang::En) => $en,)*
                }
            }
        }
    };
}

messages! {
    Title => ("Redress 投诉处理台", "Redress complaint desk"),
    SwitchLanguage => ("English", "中文"),
    SignIn => ("登录", "Sign in"),
    SignOut => ("退出", "Sign out"),
    Token => ("访问令牌", "Access token"),
    SignInHelp => ("用管理员发给您的令牌登录。会话 8 小时后或闲置 1 小时后失效。", "Sign in with the token your administrator gave you. A session ends after 8 hours, or after 1 hour unused."),
    BadToken => ("令牌无效", "That token is not valid"),
    SignedInAs => ("当前用户", "Signed in as"),
    NeedsAttention => ("需要关注", "Needs attention"),
    OpenComplaints => ("未结投诉", "Open complaints"),
    Complaint => ("投诉", "Complaint"),
    CustomerHistory => ("客户历史", "Customer history"),
    Filter => ("筛选", "Filter"),
    Clear => ("清除", "Clear"),
    Owner => ("负责人", "Owner"),
    Team => ("团队", "Team"),
    Reason => ("原因", "Reason"),
    Reasons => ("原因", "Why"),
    AnyReason => ("全部原因", "Any reason"),
    Severity => ("严重程度", "Severity"),
    AnySeverity => ("全部", "Any"),
    Waiting => ("等待客户", "Waiting on customer"),
    WaitingAny => ("全部", "Any"),
    Yes => ("是", "yes"),
    No => ("否", "no"),
    Status => ("状态", "Status"),
    Category => ("类别", "Category"),
    Customer => ("客户", "Customer"),
    Received => ("收到", "Received"),
    ResolutionDue => ("解决期限（服务标准）", "Resolution due (service level)"),
    PromisedDue => ("承诺期限", "Promised"),
    NextUpdateDue => ("下次更新期限", "Next update due"),
    AckDue => ("受理期限", "Acknowledgement due"),
    Overdue => ("已超期", "Overdue"),
    Total => ("共", "Total"),
    Next => ("下一页", "Next page"),
    First => ("第一页", "First page"),
    Nothing => ("没有记录", "Nothing here"),
    LiveOn => ("实时更新中", "Updating live"),
    Timeline => ("时间线", "Timeline"),
    Occurred => ("发生时间", "Occurred"),
    Recorded => ("记录时间", "Recorded"),
    Event => ("事件", "Event"),
    Actor => ("操作人", "Actor"),
    RecordedBy => ("记录凭据", "Recorded by"),
    Details => ("内容", "Details"),
    Description => ("描述", "Description"),
    Now => ("现在", "Now"),
    Actions => ("下一步", "Next steps"),
    Assign => ("分派", "Assign"),
    Assignee => ("负责人（工号）", "Assignee (agent id)"),
    Acknowledge => ("受理并致歉", "Acknowledge"),
    Via => ("方式", "Via"),
    Message => ("内容", "Message"),
    OfferSolution => ("提出解决方案", "Offer a solution"),
    SolutionId => ("方案编号", "Solution id"),
    PromisedBy => ("承诺完成时间（UTC，可选）", "Promised by (UTC, optional)"),
    RecordRevisit => ("记录回访", "Record a revisit"),
    Satisfaction => ("满意度 (1–5)", "Satisfaction (1–5)"),
    IssuePersists => ("问题仍存在", "Issue persists"),
    Note => ("备注", "Note"),
    Saved => ("已保存", "Saved"),
    WriteFailed => ("未保存", "Not saved"),
    ReadOnly => ("只读：您的角色不能修改投诉。", "Read only: your role cannot change complaints."),
    AsOfBanner => ("正在查看历史：", "Viewing history as of"),
    AsOfBasis => ("依据：记录时间（与 /audit/replay basis=recorded 相同）", "basis: recorded time (the same as /audit/replay basis=recorded)"),
    BackToNow => ("回到现在", "Back to now"),
    AsOf => ("查看某一时刻（UTC）", "As of (UTC)"),
    Forbidden => ("您的角色不能执行此操作。", "Your role may not do this."),
    CsrfFailed => ("表单已过期，请重新打开页面后再提交。", "The form has expired: open the page again and resubmit."),
    NotFound => ("找不到", "Not found"),
    Unavailable => ("暂时无法回答", "Not available right now"),
    Escalation => ("升级级别", "Escalation"),
    Channel => ("渠道", "Channel"),
    KeyCustomer => ("重点客户", "key customer"),
    Problems => ("重复问题与根因", "Repeat issues and problems"),
    RepeatCustomers => ("重复投诉的客户", "Customers who complain again"),
    Linked => ("关联投诉", "Linked complaints"),
    Recurrences => ("整改后再次发生", "Recurrences after the action"),
    CorrectiveActions => ("整改措施", "Corrective actions"),
    ComplaintsByMonth => ("每月关联投诉（竖线：整改措施）", "Linked complaints by month (lines: corrective actions)"),
    Trend => ("趋势", "Trend"),
    SatisfactionPage => ("满意度与服务水平", "Satisfaction and service levels"),
    GroupBy => ("分组", "Group by"),
    From => ("从（UTC）", "From (UTC)"),
    To => ("到（UTC）", "To (UTC)"),
    ShareSatisfied => ("满意比例", "Share satisfied"),
    MeanSatisfaction => ("平均满意度", "Mean satisfaction"),
    AckMet => ("受理按时率", "Acknowledged in time"),
    ResolutionMet => ("解决按时率（服务标准）", "Resolved in time (service level)"),
    PromiseMet => ("承诺兑现率", "Promises kept"),
    HoursToResolve => ("解决用时 p50/p90（小时）", "Hours to resolve p50/p90"),
    Suggestions => ("标准答复建议", "Answer suggestions"),
    ComplaintText => ("投诉内容", "Complaint text"),
    Suggest => ("查找答复", "Suggest"),
    Score => ("得分", "Score"),
    Why => ("依据", "Why"),
    AnswerGaps => ("答复缺口", "Answer gaps"),
    SuggestedTitle => ("建议标题", "Suggested title"),
    Examples => ("示例投诉", "Example complaints"),
    Audit => ("审计", "Audit"),
    VerifyChain => ("校验哈希链", "Verify the hash chain"),
    ChainIntact => ("哈希链完整", "The chain is intact"),
    ChainBroken => ("哈希链断裂", "The chain is broken"),
    Events => ("事件数", "Events"),
    HeadHash => ("链头哈希", "Head hash"),
    Position => ("位置", "Position"),
    Replay => ("按时刻回放", "Replay as of an instant"),
    AuditOnly => ("只有审计员和管理员可以审计。", "Only auditors and admins may audit."),
    Operations => ("运行状态", "Operations"),
    Projection => ("投影", "Projection"),
    Checkpoint => ("检查点", "Checkpoint"),
    Lag => ("落后", "Lag"),
    State => ("状态", "State"),
    Rebuild => ("重建", "Rebuild"),
    Health => ("健康", "Health"),
    Count => ("数量", "Count"),
    Complaints => ("投诉数", "Complaints"),
    SignedCheckpoint => ("最新签名检查点", "Latest signed checkpoint"),
    NoCheckpoint => ("还没有签名检查点（日志为空）。", "No signed checkpoint yet (the log is empty)."),
    SignedAt => ("签名时刻", "Signed at"),
    PublicKey => ("公钥", "Public key"),
    Signature => ("签名", "Signature"),
    Erasure => ("删除客户个人信息", "Erase a customer's personal data"),
    ErasureHelp => (
        "销毁该客户的数据密钥：其投诉中的个人文本从此显示为 [erased]，哈希链仍可校验。不可撤销。",
        "Destroys the customer's data key: the personal texts of their complaints read as [erased] from now on, and the chain still verifies. It cannot be undone."
    ),
    CustomerId => ("客户编号", "Customer id"),
    RequestedBy => ("申请人", "Requested by"),
    LegalBasis => ("法律依据", "Legal basis"),
    Erase => ("删除", "Erase"),
    Erased => ("已删除，客户假名：", "Erased; the customer's pseudonym:"),
    Subscriptions => ("订阅", "Subscriptions"),
    Parked => ("搁置", "Parked"),
    InFlight => ("处理中", "In flight"),
    LastError => ("最近错误", "Last error"),
    RetryParked => ("重试搁置事件", "Retry parked"),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_a_text_in_both_languages_and_they_differ_where_words_are_translated() {
        for message in Msg::ALL {
            for lang in [Lang::Zh, Lang::En] {
                assert!(!message.in_lang(lang).trim().is_empty(), "{message:?} is blank in {lang:?}");
            }
        }
        assert_ne!(Msg::NeedsAttention.in_lang(Lang::Zh), Msg::NeedsAttention.in_lang(Lang::En));
    }

    #[test]
    fn codes_have_chinese_words_and_english_spaces_and_unknown_codes_show_as_they_are() {
        assert_eq!(code_label("update_due_soon", Lang::Zh), "即将需要更新");
        assert_eq!(code_label("update_due_soon", Lang::En), "update due soon");
        assert_eq!(code_label("something_new", Lang::Zh), "something_new");
    }

    #[test]
    fn an_unknown_language_code_is_chinese_and_codes_round_trip() {
        assert_eq!(Lang::from_code("fr"), Lang::Zh);
        for lang in [Lang::Zh, Lang::En] {
            assert_eq!(Lang::from_code(lang.code()), lang);
            assert_eq!(lang.other().other(), lang);
        }
    }
}
