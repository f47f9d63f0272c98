//! A bilingual glossary of the domain (computer equipment sales and service): which Chinese and English
//! words name one thing, so that the answer-gap model groups "路由器固件" and "router firmware" complaints
//! into one theme and labels it in both languages.
//!
//! Written for the domain, not for any complaint set: hardware and its faults, software and accounts,
//! networks, orders and delivery, money, after-sales service, recycling, privacy and accessibility.
//! A word belongs to one concept at most (`a_word_names_one_concept_at_most` checks it). Words are
//! compared as terms keep them (normalised, English stemmed), so "delivered" and "delivery" meet.
//!
//! Architecture invariant: pure data and a lookup, no I/O.

use crate::text::{self, TermKind};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Each concept: its Chinese words, then its English words. The first of each names the concept.
const CONCEPTS: &[(&[&str], &[&str])] = &[
    // Devices and parts.
    (&["笔记本", "笔记本电脑", "手提电脑", "笔电"], &["laptop", "notebook"]),
    (&["台式机", "台式"], &["desktop"]),
    (&["电脑", "计算机"], &["computer", "pc"]),
    (&["平板"], &["tablet"]),
    (&["显示器", "屏幕", "显示屏", "萤幕"], &["screen", "monitor", "display"]),
    (&["键盘"], &["keyboard"]),
    (&["鼠标", "滑鼠"], &["mouse"]),
    (&["触摸板"], &["touchpad", "trackpad"]),
    (&["打印机", "印表机"], &["printer"]),
    (&["扫描仪"], &["scanner"]),
    (&["复印机", "影印机"], &["copier"]),
    (&["墨盒", "硒鼓", "碳粉", "墨水"], &["cartridge", "toner", "ink"]),
    (&["卡纸", "夹纸"], &["jam", "jammed"]),
    (&["电池"], &["battery"]),
    (&["充电器", "适配器", "电源适配器"], &["charger", "adapter"]),
    (&["电源"], &["power"]),
    (&["主板"], &["motherboard", "mainboard"]),
    (&["硬盘", "固态"], &["disk", "ssd", "hdd"]),
    (&["内存", "记忆体"], &["memory", "ram"]),
    (&["显卡"], &["gpu", "graphics"]),
    (&["处理器"], &["cpu", "processor"]),
    (&["风扇"], &["fan"]),
    (&["摄像头"], &["camera", "webcam"]),
    (&["麦克风", "话筒"], &["microphone", "mic"]),
    (&["音箱", "扬声器", "喇叭"], &["speaker"]),
    (&["耳机"], &["headphone", "headset", "earphone"]),
    (&["接口", "端口"], &["port", "usb"]),
    (&["数据线", "线缆"], &["cable"]),
    (&["服务器", "伺服器"], &["server"]),
    (&["交换机"], &["switch"]),
    (&["路由器", "路由"], &["router"]),
    (&["固件", "韧体"], &["firmware"]),
    (&["投影仪"], &["projector"]),
    // Faults.
    (&["过热", "发烫", "发热", "高温", "烫手"], &["overheat", "overheating", "hot"]),
    (&["噪音", "噪声", "异响"], &["noise", "noisy", "loud"]),
    (&["死机", "卡死"], &["freeze", "frozen"]),
    (&["重启"], &["restart", "reboot"]),
    (&["关机"], &["shutdown"]),
    (&["开机", "启动"], &["boot", "startup"]),
    (&["蓝屏"], &["bsod"]),
    (&["黑屏"], &["blackscreen"]),
    (&["碎屏", "破裂", "裂痕", "裂缝"], &["cracked", "crack", "shattered"]),
    (&["划痕", "刮痕", "划伤"], &["scratch", "scratched"]),
    (&["凹陷", "变形"], &["dent", "dented", "bent"]),
    (&["坏点"], &["pixel"]),
    (&["鼓包"], &["swollen", "swelling", "bulging"]),
    (&["损坏", "破损"], &["damage", "damaged"]),
    (&["故障"], &["fault", "faulty", "malfunction"]),
    (&["崩溃", "闪退"], &["crash", "crashes"]),
    (&["报错", "错误"], &["error"]),
    // Networks.
    (&["网络", "网速", "网路"], &["network"]),
    (&["无线", "无线网"], &["wireless", "wifi"]),
    (&["掉线", "断线", "断网"], &["disconnect", "disconnected", "disconnection", "dropout", "drops"]),
    (&["信号"], &["signal"]),
    (&["连接"], &["connection", "connect"]),
    (&["蓝牙"], &["bluetooth"]),
    // Software and accounts.
    (&["软件", "软体"], &["software"]),
    (&["应用", "程序", "程式"], &["app", "application", "program"]),
    (&["系统", "操作系统"], &["system", "os", "windows"]),
    (&["驱动", "驱动程序"], &["driver"]),
    (&["更新", "升级"], &["update", "upgrade"]),
    (&["安装"], &["install", "installation", "installed"]),
    (&["卸载"], &["uninstall"]),
    (&["激活"], &["activate", "activation"]),
    (&["许可证", "授权"], &["license", "licence"]),
    (&["密钥", "序列号"], &["serial"]),
    (&["订阅"], &["subscription", "subscribe"]),
    (&["自动"], &["auto", "automatic", "automatically"]),
    (&["取消"], &["cancel", "cancelled", "canceled"]),
    (&["续费", "续订"], &["renew", "renewal", "renewed"]),
    (&["提醒", "通知"], &["reminder", "notification", "notice"]),
    (&["账号", "账户"], &["account"]),
    (&["密码"], &["password"]),
    (&["登录"], &["login"]),
    (&["病毒", "恶意软件"], &["virus", "malware"]),
    (&["杀毒"], &["antivirus"]),
    (&["备份"], &["backup"]),
    (&["数据"], &["data"]),
    (&["浏览器"], &["browser"]),
    (&["收藏夹", "书签"], &["bookmark", "bookmarks", "favorites"]),
    (&["归档", "存档"], &["archive"]),
    (&["文件", "资料", "档案"], &["file", "document"]),
    (&["迁移"], &["migration", "migrate"]),
    (&["丢失", "不见"], &["lost", "missing", "loss"]),
    (&["恢复"], &["recover", "recovery", "restore"]),
    (&["格式化", "清空"], &["format", "wipe", "wiped", "erased"]),
    (&["邮件", "邮箱"], &["email", "mail"]),
    (&["云盘", "云端"], &["cloud"]),
    (&["同步"], &["sync", "synchronize"]),
    (&["兼容"], &["compatible", "compatibility"]),
    (&["弹窗"], &["popup"]),
    (&["广告"], &["ad", "ads", "advert", "advertisement"]),
    (&["预装"], &["preinstalled", "bloatware"]),
    // Orders, delivery and money.
    (&["订单"], &["order"]),
    (&["发货"], &["shipped", "shipment", "dispatch", "dispatched"]),
    (&["配送", "送货", "快递", "物流"], &["delivery", "delivered", "courier", "logistics"]),
    (&["延迟", "延误", "晚到"], &["delay", "delayed"]),
    (&["包裹", "箱子", "包装"], &["package", "parcel", "box", "packaging"]),
    (&["签收"], &["signature"]),
    (&["缺件", "少件", "漏发"], &["incomplete"]),
    (&["价格", "价钱"], &["price", "pricing"]),
    (&["降价", "差价", "价格调整"], &["markdown"]),
    (&["优惠", "折扣"], &["discount"]),
    (&["优惠券"], &["coupon", "voucher"]),
    (&["付款", "支付"], &["payment", "pay", "paid"]),
    (&["扣款", "扣费", "收费"], &["fee", "fees", "billed", "billing"]),
    (&["发票"], &["invoice", "receipt"]),
    (&["退款"], &["refund", "refunded"]),
    (&["退货"], &["return", "returned"]),
    (&["换货", "更换"], &["replace", "replacement", "exchange"]),
    (&["合同"], &["contract"]),
    (&["采购"], &["procurement", "purchase", "purchased"]),
    // After-sales service.
    (&["维修"], &["repair", "repaired"]),
    (&["保修", "质保"], &["warranty", "guarantee"]),
    (&["零件", "配件"], &["part", "parts", "accessory", "accessories"]),
    (&["上门"], &["onsite"]),
    (&["预约"], &["appointment", "booking", "schedule", "scheduled"]),
    (&["工程师", "技术员"], &["engineer", "technician"]),
    (&["客服"], &["support", "agent"]),
    (&["热线", "电话"], &["hotline", "phone", "call"]),
    (&["回电", "回访"], &["callback"]),
    (&["回复"], &["reply", "response", "answer"]),
    (&["等待", "排队"], &["wait", "waiting", "queue"]),
    (&["态度"], &["attitude", "rude"]),
    (&["培训", "课程", "教学"], &["training", "course", "class", "tutorial"]),
    (&["会议", "视频会议"], &["meeting", "conference"]),
    (&["视频", "影片"], &["video"]),
    // Recycling, privacy, accessibility.
    (&["回收"], &["recycle", "recycling"]),
    (&["以旧换新"], &["trade"]),
    (&["销毁"], &["destroy", "destruction", "shred"]),
    (&["证明", "凭证"], &["certificate", "proof"]),
    (&["废弃"], &["waste", "disposal"]),
    (&["隐私"], &["privacy"]),
    (&["个人信息", "个人资料"], &["personal"]),
    (&["泄露", "外泄"], &["leak", "leaked", "breach"]),
    (&["推销", "骚扰"], &["spam", "marketing", "telemarketing", "harassment"]),
    (&["无障碍"], &["accessibility", "accessible"]),
    (&["读屏"], &["reader"]),
    (&["视障", "盲人"], &["blind"]),
    (&["字体"], &["font"]),
    (&["放大"], &["zoom", "magnifier"]),
    (&["验证码"], &["captcha"]),
    (&["语音"], &["voice", "audio"]),
    (&["老人", "老年人"], &["elderly", "senior"]),
];

/// A concept's number (its place in the glossary).
pub type ConceptId = u32;

/// The term texts of each concept's words, as the cut keeps them.
struct Lookup {
    by_word: HashMap<String, ConceptId>,
}

fn lookup() -> &'static Lookup {
    static LOOKUP: OnceLock<Lookup> = OnceLock::new();
    LOOKUP.get_or_init(|| {
        let mut by_word = HashMap::new();
        for (id, (zh, en)) in CONCEPTS.iter().enumerate() {
            for word in zh.iter().chain(en.iter()) {
                if let Some(term) = term_of(word) {
                    // The first concept keeps a word two would name (the test refuses such a glossary).
                    by_word.entry(term).or_insert(id as ConceptId);
                }
            }
        }
        Lookup { by_word }
    })
}

/// The word term a glossary word is kept as (`None`: the cut keeps no single word of it).
fn term_of(word: &str) -> Option<String> {
    let terms = text::words_and_bigrams(word);
    let words: Vec<_> = terms.into_iter().filter(|t| t.kind == TermKind::Word).collect();
    match words.as_slice() {
        [only] => Some(only.text.clone()),
        // jieba's search cut also gives a long word's parts: the long word is the one meant.
        [..] => words.into_iter().map(|t| t.text).find(|t| t == &text::normalize(word)),
    }
}

/// The concept a word term (its text as the cut keeps it) names, if the glossary has it.
pub fn concept_of(word: &str) -> Option<ConceptId> {
    lookup().by_word.get(word).copied()
}

/// How many concepts the glossary has.
pub fn len() -> usize {
    CONCEPTS.len()
}

/// The concept's name in each language: its first Chinese and first English word.
pub fn names(concept: ConceptId) -> (&'static str, &'static str) {
    let (zh, en) = CONCEPTS[concept as usize];
    (zh[0], en[0])
}

/// The concept's name in both languages, "固件 / firmware".
pub fn name(concept: ConceptId) -> &'static str {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    let names = NAMES
        .get_or_init(|| (0..CONCEPTS.len() as ConceptId).map(names).map(|(zh, en)| format!("{zh} / {en}")).collect());
    &names[concept as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_is_kept_as_one_term_and_names_one_concept_at_most() {
        let mut seen: HashMap<String, (usize, &str)> = HashMap::new();
        let mut wrong = Vec::new();
        for (id, (zh, en)) in CONCEPTS.iter().enumerate() {
            assert!(!zh.is_empty() && !en.is_empty(), "concept {id} has both languages");
            for word in zh.iter().chain(en.iter()) {
                let Some(term) = term_of(word) else {
                    wrong.push(format!("{word:?} is not kept as a word: {:?}", text::words_and_bigrams(word)));
                    continue;
                };
                if let Some((other, first)) = seen.insert(term.clone(), (id, word)) {
                    if other != id {
                        wrong.push(format!("{word:?} and {first:?} are both kept as {term:?}"));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn words_of_both_languages_and_their_forms_meet_in_one_concept() {
        let of = |text: &str| {
            let word = text::words_and_bigrams(text).into_iter().find(|t| t.kind == TermKind::Word).unwrap();
            concept_of(&word.text)
        };
        assert_eq!(of("固件"), of("firmware"));
        assert_eq!(of("Routers"), of("路由器"));
        assert_eq!(of("delivered"), of("快递"));
        assert_ne!(of("固件"), of("路由器"));
        assert_eq!(of("桌子"), None, "a word the glossary lacks names no concept");
        assert_eq!(names(of("固件").unwrap()), ("固件", "firmware"));
        assert_eq!(name(of("固件").unwrap()), "固件 / firmware");
    }
}
