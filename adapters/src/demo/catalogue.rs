//! What the demo company sells and what its customers complain about: products, complaint themes with
//! their text templates, root causes, solutions, and the phrases staff write. Plain data, no logic.
//!
//! Templates carry slots filled per complaint: `{product}`, `{model}`, `{days}`, `{amount}`, `{city}`.
//! Staff phrases may also use `{id}`, `{hours}`, `{date}`, `{solution}`, `{cause}`, `{reason}`.
//! Every text here was written for the demo; none is taken from the evaluation data.

/// The language a customer writes in. Staff answer Chinese-writing customers in simplified Chinese
/// (traditional for acknowledgements and apologies to traditional-Chinese writers) and the rest in English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lang {
    /// Simplified Chinese.
    Hans,
    /// Traditional Chinese.
    Hant,
    /// English.
    En,
    /// Chinese with English terms mixed in.
    Mixed,
}

/// One kind of thing the company sells, with its names and some model names.
pub(super) struct ProductKind {
    pub key: &'static str,
    pub hans: &'static str,
    pub hant: &'static str,
    pub en: &'static str,
    pub models: &'static [&'static str],
    /// Typical price range in yuan.
    pub price: (i64, i64),
}

pub(super) const PRODUCTS: &[ProductKind] = &[
    ProductKind {
        key: "laptop",
        hans: "笔记本电脑",
        hant: "筆記型電腦",
        en: "laptop",
        models: &["Aero 14", "Aero 16 Pro", "Vertex 13", "Vertex 15 Plus", "WorkMate 14 G3"],
        price: (4_000, 13_000),
    },
    ProductKind {
        key: "desktop",
        hans: "台式机",
        hant: "桌上型電腦",
        en: "desktop PC",
        models: &["Tower D5", "Tower D7", "Mini M3", "Studio S9"],
        price: (3_000, 9_000),
    },
    ProductKind {
        key: "monitor",
        hans: "显示器",
        hant: "顯示器",
        en: "monitor",
        models: &["View 24F", "View 27Q", "View 32U", "Curve 34W"],
        price: (900, 4_500),
    },
    ProductKind {
        key: "printer",
        hans: "打印机",
        hant: "印表機",
        en: "printer",
        models: &["PL-2200 laser", "PL-3600dn", "InkPro 580", "PL-M428"],
        price: (800, 6_000),
    },
    ProductKind {
        key: "copier",
        hans: "复印机",
        hant: "影印機",
        en: "copier",
        models: &["CX-3025 MFP", "CX-4530", "CX-6055"],
        price: (8_000, 30_000),
    },
    ProductKind {
        key: "router",
        hans: "路由器",
        hant: "路由器",
        en: "router",
        models: &["NetHome AX3000", "NetHome AX5400", "EdgeRoute R8"],
        price: (200, 1_500),
    },
    ProductKind {
        key: "switch",
        hans: "交换机",
        hant: "交換器",
        en: "network switch",
        models: &["CoreSwitch 24G", "CoreSwitch 48P"],
        price: (800, 8_000),
    },
    ProductKind {
        key: "server",
        hans: "服务器",
        hant: "伺服器",
        en: "server",
        models: &["RackStar R240", "RackStar R740", "TowerSrv T150"],
        price: (15_000, 90_000),
    },
    ProductKind {
        key: "licence",
        hans: "软件许可证",
        hant: "軟體授權",
        en: "software licence",
        models: &["OfficeSuite 2025 (50 seats)", "SecureEndpoint AV", "CAD Studio Pro", "ServerOS Standard"],
        price: (500, 20_000),
    },
    ProductKind {
        key: "installation",
        hans: "上门安装服务",
        hant: "到府安裝服務",
        en: "installation service",
        models: &["office network set-up", "meeting-room AV set-up", "rack installation"],
        price: (200, 2_000),
    },
    ProductKind {
        key: "training",
        hans: "培训课程",
        hant: "培訓課程",
        en: "training course",
        models: &["network administration", "server maintenance", "office software for beginners"],
        price: (1_500, 9_000),
    },
];

/// The hardware kinds, for themes that can concern any device.
pub(super) const HARDWARE: &[&str] =
    &["laptop", "laptop", "desktop", "monitor", "printer", "copier", "router", "switch", "server"];

/// Why a complaint happened, and who owns the cause. Recurring causes are shared between themes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cause {
    /// "中文 / English", identical wherever the cause recurs.
    pub text: &'static str,
    pub department: &'static str,
    /// What removes the cause (the `corrective_action` of `cause_analyzed`).
    pub corrective: &'static str,
}

const fn cause(text: &'static str, department: &'static str, corrective: &'static str) -> Cause {
    Cause { text, department, corrective }
}

pub(super) const CARRIER_BACKLOG: Cause =
    cause("承运商中转积压 / carrier hub backlog", "logistics", "高峰期启用第二承运商 / second carrier during peaks");
const ADDRESS_ERROR: Cause =
    cause("订单地址录入错误 / address keyed in wrongly", "sales", "下单时校验地址 / address validation at checkout");
const PICKING_ERROR: Cause =
    cause("仓库拣货错误 / warehouse picking error", "warehouse", "出库扫码复核 / scan check at dispatch");
const PACKING: Cause =
    cause("包装防护不足 / insufficient packaging", "warehouse", "大件加装缓冲材料 / extra cushioning for large items");
const COURIER_FEE: Cause = cause(
    "外包配送员违规收费 / contracted courier charged illegally",
    "logistics",
    "配送商考核扣分并培训 / courier penalised and retrained",
);
pub(super) const ENGINEER_SCHEDULING: Cause = cause(
    "工程师排班冲突 / engineer scheduling conflict",
    "field_service",
    "排班系统预留缓冲 / buffers in the scheduling system",
);
const INSTALL_CHECKLIST: Cause = cause(
    "安装验收清单未执行 / installation checklist skipped",
    "field_service",
    "验收清单纳入工单关闭条件 / checklist required to close the job",
);
pub(super) const PARTS_STOCKOUT: Cause = cause(
    "备件库存不足 / spare-part stock-out",
    "warehouse",
    "常用备件安全库存上调 / higher safety stock for common parts",
);
const REPAIR_BACKLOG: Cause = cause(
    "维修中心积压 / repair centre backlog",
    "repair_center",
    "高峰期增加检测工位 / extra test benches at peak times",
);
const FIRST_DIAGNOSIS: Cause = cause(
    "首次维修诊断不彻底 / incomplete first diagnosis",
    "repair_center",
    "返修件由高级工程师复检 / repeat repairs re-checked by a senior engineer",
);
const NO_BACKUP: Cause = cause(
    "维修前未做数据备份确认 / no backup consent before repair",
    "repair_center",
    "送修单增加数据备份确认栏 / backup consent on the repair form",
);
pub(super) const PANEL_BATCH: Cause = cause(
    "显示面板批次缺陷 / display panel batch defect",
    "product_engineering",
    "向供应商索赔并加严来料检验 / supplier claim and stricter incoming inspection",
);
pub(super) const ROLLER_WEAR: Cause = cause(
    "搓纸轮批次磨损 / pickup-roller batch wear",
    "product_engineering",
    "主动更换同批次搓纸轮 / proactive roller swap for the batch",
);
pub(super) const FIRMWARE_DEFECT: Cause = cause(
    "路由器固件 3.2 缺陷 / router firmware 3.2 defect",
    "product_engineering",
    "发布固件 3.2.1 并推送升级 / firmware 3.2.1 pushed to all units",
);
const DEFAULT_SETTINGS: Cause = cause(
    "出厂默认配置不当 / poor factory default settings",
    "product_engineering",
    "更新出厂配置并附设置指南 / new defaults and a set-up guide",
);
const THERMAL: Cause = cause(
    "散热设计余量不足 / insufficient thermal design margin",
    "product_engineering",
    "BIOS 风扇曲线更新 / BIOS fan-curve update",
);
const INVOICE_TEMPLATE: Cause = cause(
    "开票系统模板错误 / invoicing template error",
    "billing",
    "开票前自动校验税号 / tax ID validated before issuing",
);
pub(super) const GATEWAY_CALLBACK: Cause = cause(
    "支付网关重复回调 / payment gateway duplicate callback",
    "billing",
    "扣款接口幂等改造 / idempotent charge requests",
);
const REFUND_BATCH: Cause =
    cause("退款批处理延迟 / refund batch delay", "billing", "退款改为每日两次批处理 / refunds batched twice a day");
const RETURN_POLICY: Cause = cause(
    "门店错误解读退货政策 / store misread the return policy",
    "sales",
    "门店退货政策复训 / return-policy refresher for stores",
);
const WARRANTY_RULES: Cause = cause(
    "保修判定标准不一致 / inconsistent warranty assessment",
    "repair_center",
    "统一人为损坏判定标准并拍照留证 / one damage standard, photos required",
);
const WARRANTY_DATE: Cause = cause(
    "保修起算日按出厂日期计算 / warranty counted from manufacturing date",
    "sales",
    "保修改按发票日期起算 / warranty starts at the invoice date",
);
pub(super) const HOTLINE_UNDERSTAFFED: Cause =
    cause("热线人手不足 / hotline understaffed", "customer_service", "高峰时段增加坐席 / more agents at peak hours");
const CALLBACK_UNASSIGNED: Cause = cause(
    "回电工单未分派 / callback ticket not assigned",
    "customer_service",
    "回电工单超时自动升级 / overdue callbacks escalate automatically",
);
const SERVICE_TRAINING_GAP: Cause = cause(
    "一线员工服务培训不足 / front-line service training gap",
    "customer_service",
    "服务礼仪季度培训 / quarterly service-conduct training",
);
const TRAINER_SCHEDULING: Cause = cause(
    "讲师排期冲突 / trainer scheduling conflict",
    "training_center",
    "每门课配备后备讲师 / a backup trainer per course",
);
const TRAINING_LAB: Cause = cause(
    "实操设备未提前准备 / lab equipment not prepared",
    "training_center",
    "开课前一日设备点检 / lab check the day before",
);
const LICENCE_SERVER: Cause = cause(
    "许可证服务器同步故障 / licence server sync failure",
    "it_security",
    "许可证服务双机热备 / redundant licence servers",
);
const KEY_BATCH: Cause =
    cause("许可证密钥批次错误 / wrong licence key batch", "sales", "密钥发放前抽检 / key batches spot-checked");
const RENEWAL_REMINDER: Cause = cause(
    "自动续费提醒未发送 / renewal reminder not sent",
    "billing",
    "续费前 30 天和 7 天双提醒 / reminders 30 and 7 days before renewal",
);
const VENDOR_LEAK: Cause = cause(
    "第三方外呼平台数据外泄 / third-party telemarketing vendor data leak",
    "it_security",
    "终止合作并收紧数据共享 / vendor dropped, data sharing restricted",
);
const PRICE_SYNC: Cause = cause(
    "价格系统同步延迟 / pricing system sync lag",
    "sales",
    "价格变更锁定已下单订单 / placed orders keep their price",
);
const PROMO_CONFIG: Cause = cause(
    "促销规则配置错误 / promotion rule misconfigured",
    "sales",
    "促销上线前双人复核 / four-eyes check on promotions",
);
const RECYCLING_VENDOR: Cause = cause(
    "回收服务商履约不稳定 / recycling vendor unreliable",
    "logistics",
    "更换回收服务商 / recycling vendor replaced",
);
const WEBSITE_A11Y: Cause = cause(
    "网站未做无障碍测试 / website never tested for accessibility",
    "it_security",
    "上线前无障碍检测 / accessibility check before release",
);
const MIGRATION_TOOL: Cause = cause(
    "迁移工具不支持旧版邮件格式 / migration tool misses legacy mail formats",
    "field_service",
    "迁移前清单核对并升级工具 / pre-migration checklist and tool upgrade",
);

/// Causes found when the complaint turns out not to be factually right (`founded: false`).
pub(super) const UNFOUNDED_CAUSES: &[Cause] = &[
    cause("客户使用不当 / misuse by the customer", "customer_service", "使用指南随货附赠 / quick guide in the box"),
    cause(
        "投诉与记录不符 / complaint not supported by the records",
        "customer_service",
        "通话录音随工单保存 / call recordings kept with the case",
    ),
    cause(
        "属于第三方责任 / caused by a third party",
        "customer_service",
        "向客户提供第三方联系方式 / third-party contacts given to customers",
    ),
];

/// How a complaint can be put right. The kind decides the closing outcome (refund → refunded,
/// replacement → replaced, anything else → resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Remedy {
    Expedite,
    Replace,
    Refund,
    Voucher,
    Repair,
    Loaner,
    Redo,
    Reissue,
    DataRecovery,
    PriceMatch,
    Gift,
    Retrain,
    Coaching,
    DoNotCall,
    Pickup,
    AssistedOrder,
}

impl Remedy {
    /// The offer, in simplified Chinese and in English.
    pub(super) fn offer(self) -> (&'static str, &'static str) {
        match self {
            Remedy::Expedite => ("加急处理，由专人每日同步进度", "Expedite, with a daily update from a named agent"),
            Remedy::Replace => (
                "免费更换同型号全新{product}，上门取回旧机",
                "Replace the {product} with a new unit of the same model; we collect the old one",
            ),
            Remedy::Refund => {
                ("全额退款 {amount} 元，原路退回", "Full refund of {amount} yuan to the original payment")
            }
            Remedy::Voucher => {
                ("赠送 {amount} 元服务代金券作为补偿", "A {amount} yuan service voucher as compensation")
            }
            Remedy::Repair => (
                "安排高级工程师上门维修并更换故障部件",
                "A senior engineer on site to repair and replace the faulty part",
            ),
            Remedy::Loaner => ("维修期间提供同档次备用机", "A loaner of the same class while the repair runs"),
            Remedy::Redo => ("重新安排上门服务并现场验收签字", "Redo the service with an on-site sign-off"),
            Remedy::Reissue => {
                ("作废原发票并在两个工作日内重新开具", "Void the invoice and reissue it within two working days")
            }
            Remedy::DataRecovery => ("由数据恢复实验室免费尝试恢复数据", "A free data-recovery attempt by our lab"),
            Remedy::PriceMatch => {
                ("按下单价格发货，差价由我司承担", "Ship at the ordered price; we absorb the difference")
            }
            Remedy::Gift => ("补发赠品并延长保修一年", "Send the missing gift and extend the warranty by one year"),
            Remedy::Retrain => {
                ("免费安排下一期课程并报销差旅费用", "A free seat in the next course and travel costs reimbursed")
            }
            Remedy::Coaching => {
                ("约谈涉事员工并出具书面致歉", "Coach the employee involved and send a written apology")
            }
            Remedy::DoNotCall => (
                "将您的号码列入全渠道免打扰名单，并追查信息来源",
                "Put your number on our do-not-contact list and trace the leak",
            ),
            Remedy::Pickup => {
                ("安排专车上门回收并出具数据销毁证明", "A dedicated pickup with a data-destruction certificate")
            }
            Remedy::AssistedOrder => (
                "开通电话代客下单通道，网站改造完成后通知您",
                "An assisted ordering line by phone; we tell you when the site is fixed",
            ),
        }
    }

    /// What staff note when the remedy was carried out.
    pub(super) fn delivered(self) -> (&'static str, &'static str) {
        match self {
            Remedy::Expedite => ("已加急完成，客户已收到。", "Expedited and received by the customer."),
            Remedy::Replace => {
                ("新机已送达并完成开机检测，旧机已取回。", "New unit delivered and tested; old unit collected.")
            }
            Remedy::Refund => {
                ("款项已原路退回，已短信通知客户。", "Refund paid to the original method; customer notified by SMS.")
            }
            Remedy::Voucher => ("代金券已发放到客户账户。", "Voucher credited to the customer's account."),
            Remedy::Repair => ("工程师已上门完成维修，现场测试正常。", "Engineer repaired it on site; tests pass."),
            Remedy::Loaner => {
                ("备用机已送达，原机维修完成后换回。", "Loaner delivered; swapped back once the repair was done.")
            }
            Remedy::Redo => {
                ("已重新上门完成服务，客户现场验收签字。", "Service redone on site and signed off by the customer.")
            }
            Remedy::Reissue => {
                ("新发票已开具并寄出，原发票已红冲。", "New invoice issued and sent; the old one was cancelled.")
            }
            Remedy::DataRecovery => {
                ("已恢复大部分数据并刻录交付客户。", "Most data recovered and handed over on a drive.")
            }
            Remedy::PriceMatch => {
                ("已按原价发货，差价已退回。", "Shipped at the original price; the difference refunded.")
            }
            Remedy::Gift => ("赠品已补发，延保已登记。", "Gift sent; warranty extension registered."),
            Remedy::Retrain => {
                ("已为客户预留下期名额，差旅费已报销。", "Seat reserved in the next course; travel costs paid.")
            }
            Remedy::Coaching => ("已完成员工约谈，书面致歉已寄出。", "Employee coached; written apology sent."),
            Remedy::DoNotCall => {
                ("号码已加入免打扰名单，外呼商已停用。", "Number on the do-not-contact list; the vendor is suspended.")
            }
            Remedy::Pickup => {
                ("旧设备已回收，数据销毁证明已发送。", "Old devices collected; destruction certificate sent.")
            }
            Remedy::AssistedOrder => {
                ("代客下单通道已开通并告知客户。", "Assisted ordering line set up and explained to the customer.")
            }
        }
    }
}

/// A recurring kind of complaint within a category.
pub(super) struct Theme {
    pub key: &'static str,
    pub category: &'static str,
    /// Relative frequency (before seasonal adjustment).
    pub weight: f64,
    /// Product kinds ([`ProductKind::key`]) the theme is about.
    pub products: &'static [&'static str],
    /// Chinese keywords staff would search the Q&A library with, whatever language the customer wrote in.
    pub hints: &'static [&'static str],
    /// Range of `{days}`.
    pub days: (i64, i64),
    /// Range of `{amount}` in yuan; `None` means the product's price.
    pub amount: Option<(i64, i64)>,
    pub texts: &'static [(Lang, &'static str)],
    pub causes: &'static [(Cause, u32)],
    pub remedies: &'static [(Remedy, u32)],
    /// Shifts the severity up (positive) or down (negative) with some probability.
    pub severity_bias: i8,
    /// Share of complaints that the investigation finds not factually right.
    pub unfounded: f64,
}

use Lang::{En, Hans, Hant, Mixed};

/// Themes of categories the standard answers cover, and three they do not (recycling, accessibility,
/// data_migration), so the answer-gaps projection has something to find.
pub(super) const THEMES: &[Theme] = &[
    Theme {
        key: "late_delivery",
        category: "delivery",
        weight: 6.0,
        products: HARDWARE,
        hints: &["配送延迟", "物流", "未按时送达"],
        days: (4, 16),
        amount: None,
        texts: &[
            (Hans, "{days}天前下单的{product}（{model}）到现在还没送到，物流信息一直停在{city}分拨中心，客服只会让我再等等。"),
            (Hans, "订单页写着三个工作日送达，现在已经第{days}天了，{product}还是没影子。我们下周开工要用，请给个准确的送达时间。"),
            (Hans, "催了好几次单，{model}的物流状态{days}天没有更新，到底是丢件了还是压仓了？"),
            (Hant, "訂購的{product} {model} 已經{days}天了還沒到貨，物流狀態一直停留在同一站，請盡快處理。"),
            (En, "I ordered a {model} {product} {days} days ago and it still hasn't arrived. Tracking has been stuck in {city} for days and nobody can tell me when it will come."),
            (En, "Our order of {model} units for the {city} office is {days} days late. We scheduled the roll-out around your promised date."),
            (Mixed, "订的 {model} 还没到，tracking 一直显示 in transit，已经{days}天了，ETA 到底是哪天？"),
        ],
        causes: &[(CARRIER_BACKLOG, 6), (PICKING_ERROR, 1), (ADDRESS_ERROR, 1)],
        remedies: &[(Remedy::Expedite, 5), (Remedy::Voucher, 2), (Remedy::Refund, 1)],
        severity_bias: 0,
        unfounded: 0.05,
    },
    Theme {
        key: "wrong_item",
        category: "delivery",
        weight: 3.0,
        products: &["laptop", "desktop", "monitor", "printer", "router"],
        hints: &["发错货", "型号不符", "配置不对"],
        days: (1, 5),
        amount: None,
        texts: &[
            (Hans, "我订的是{model}，收到的却是低一档的配置，内存和硬盘都对不上，请尽快换成订单上的型号。"),
            (Hans, "收到的{product}和订单不一致，订单写的是{model}，箱子里是另一个型号，标签也对不上。"),
            (Hant, "收到的{product}規格跟訂單不符，訂的是{model}，送來的卻是別的型號。"),
            (En, "The {product} delivered to our {city} office is not the {model} we ordered: different CPU and half the memory. Please exchange it."),
        ],
        causes: &[(PICKING_ERROR, 5), (ADDRESS_ERROR, 1)],
        remedies: &[(Remedy::Replace, 6), (Remedy::Refund, 1)],
        severity_bias: 0,
        unfounded: 0.04,
    },
    Theme {
        key: "damaged_on_arrival",
        category: "delivery",
        weight: 3.5,
        products: &["laptop", "monitor", "monitor", "printer", "copier", "desktop"],
        hints: &["到货破损", "外包装损坏", "开箱损坏"],
        days: (1, 3),
        amount: None,
        texts: &[
            (Hans, "{product}送到时外箱有明显压痕，拆开发现{model}的屏幕有裂纹，签收时当着快递员拍了照。"),
            (Hans, "开箱发现{product}外壳磕掉一块，边角变形，这样的货怎么能发出来？"),
            (Hant, "{product}送到時外盒破損，機身有明顯刮痕，要求換新。"),
            (En, "The {product} arrived with a crushed box and a cracked casing. I have photos of the packaging and the damage."),
            (Mixed, "{model} 开箱就是坏的，box 都压扁了，屏幕有一条裂痕。"),
        ],
        causes: &[(PACKING, 4), (CARRIER_BACKLOG, 1)],
        remedies: &[(Remedy::Replace, 6), (Remedy::Refund, 1), (Remedy::Voucher, 1)],
        severity_bias: 0,
        unfounded: 0.06,
    },
    Theme {
        key: "delivery_extra_fee",
        category: "delivery",
        weight: 1.5,
        products: &["desktop", "copier", "printer", "server", "monitor"],
        hints: &["额外收费", "上楼费", "送货费"],
        days: (1, 3),
        amount: Some((30, 200)),
        texts: &[
            (Hans, "送货员说楼里没电梯，要另付{amount}元搬运费，不然就放在楼下，我只好付了。你们不是承诺送货到家吗？"),
            (Hans, "{product}送到后司机要收{amount}元“上楼费”，还不给开收据。"),
            (En, "The courier asked for {amount} yuan in cash to carry the {product} upstairs. I was told delivery to the door was included."),
        ],
        causes: &[(COURIER_FEE, 5)],
        remedies: &[(Remedy::Refund, 3), (Remedy::Voucher, 2)],
        severity_bias: 0,
        unfounded: 0.08,
    },
    Theme {
        key: "installation_incomplete",
        category: "installation",
        weight: 4.5,
        products: &["installation", "router", "switch", "server", "copier"],
        hints: &["安装", "调试", "安装不规范"],
        days: (1, 7),
        amount: None,
        texts: &[
            (Hans, "买{product}时包含上门安装，师傅来了装上就走，完全没调试，到现在还用不了。"),
            (Hans, "安装工程师把{model}塞进机柜就离开了，线缆乱成一团，没有标签也没有验收单。"),
            (Hans, "{city}分公司的{product}安装只做了一半，工程师说剩下的“下次再来”，已经过去{days}天了。"),
            (Hant, "安裝人員沒有完成{product}的設定就離開了，現在無法正常使用。"),
            (En, "The installation of our {model} was left half done: cables unlabelled, nothing configured, and the engineer left without a sign-off."),
            (Mixed, "{model} 的 setup 根本没做完，VLAN 没配，engineer 就走了。"),
        ],
        causes: &[(INSTALL_CHECKLIST, 5), (ENGINEER_SCHEDULING, 1)],
        remedies: &[(Remedy::Redo, 7), (Remedy::Voucher, 1)],
        severity_bias: 0,
        unfounded: 0.05,
    },
    Theme {
        key: "missed_appointment",
        category: "installation",
        weight: 3.5,
        products: &["installation", "printer", "copier", "server"],
        hints: &["预约", "爽约", "工程师未到"],
        days: (1, 5),
        amount: None,
        texts: &[
            (Hans, "预约了今天上午安装{product}，我请了半天假在家等，工程师一直没来，电话也打不通。"),
            (Hans, "已经改约两次了，约好的时间还是没人上门，也没人提前通知一声。"),
            (En, "We booked an engineer to install the {product} at our {city} branch. Nobody showed up and nobody called; we lost a whole morning."),
            (Mixed, "约了 engineer 下午两点上门装{product}，等到六点都没人，这个 appointment 到底怎么排的？"),
        ],
        causes: &[(ENGINEER_SCHEDULING, 6)],
        remedies: &[(Remedy::Redo, 5), (Remedy::Voucher, 2)],
        severity_bias: 0,
        unfounded: 0.04,
    },
    Theme {
        key: "repair_slow",
        category: "repair",
        weight: 5.0,
        products: &["laptop", "laptop", "desktop", "printer", "copier", "server"],
        hints: &["维修进度", "维修周期", "送修"],
        days: (8, 30),
        amount: None,
        texts: &[
            (Hans, "{product}送修已经{days}天了，每次查询都说还在检测，到底什么时候能修好？"),
            (Hans, "公司的{model}送修{days}天一直没有进度，也没给备用机，业务已经受到影响。"),
            (Hant, "{product}送修已經{days}天，進度查詢一直顯示檢測中，請給一個明確的完成時間。"),
            (En, "Our {model} has been at your repair centre for {days} days. Every call I get 'still in diagnosis'. We need a firm date or a loaner."),
            (Mixed, "{model} 送修{days}天了，status 一直是 pending，能不能给个 deadline？"),
        ],
        causes: &[(REPAIR_BACKLOG, 4), (PARTS_STOCKOUT, 3)],
        remedies: &[(Remedy::Expedite, 4), (Remedy::Loaner, 3), (Remedy::Replace, 1)],
        severity_bias: 0,
        unfounded: 0.04,
    },
    Theme {
        key: "repair_recurring",
        category: "repair",
        weight: 3.5,
        products: &["laptop", "desktop", "printer", "monitor", "server"],
        hints: &["返修", "故障复发", "修好又坏"],
        days: (5, 20),
        amount: None,
        texts: &[
            (Hans, "{product}修回来不到{days}天，同样的故障又出现了，这已经是第二次送修。"),
            (Hans, "上次说主板已经换好了，结果{model}还是一样随机重启，根本没修好。"),
            (En, "The {product} came back from repair and the exact same fault returned after {days} days."),
            (Mixed, "{model} 修完回来又开始蓝屏，同一个 issue，已经第二次了。"),
        ],
        causes: &[(FIRST_DIAGNOSIS, 5), (PARTS_STOCKOUT, 1)],
        remedies: &[(Remedy::Repair, 4), (Remedy::Replace, 3), (Remedy::Refund, 1)],
        severity_bias: 1,
        unfounded: 0.05,
    },
    Theme {
        key: "repair_data_loss",
        category: "repair",
        weight: 1.5,
        products: &["laptop", "desktop", "server"],
        hints: &["数据丢失", "硬盘格式化", "文件没了"],
        days: (2, 10),
        amount: None,
        texts: &[
            (Hans, "送修时说好只换电池，拿回来硬盘被格式化了，半年的工作资料全没了，没有任何人事先问过我。"),
            (Hans, "{model}维修后系统被重装，桌面和文档里的文件都没了，客户资料也在里面。"),
            (En, "After the repair my {product} came back with a wiped drive. Nobody asked me about a backup first."),
        ],
        causes: &[(NO_BACKUP, 6)],
        remedies: &[(Remedy::DataRecovery, 6), (Remedy::Voucher, 1)],
        severity_bias: 1,
        unfounded: 0.05,
    },
    Theme {
        key: "repair_parts",
        category: "repair",
        weight: 3.0,
        products: &["laptop", "monitor", "printer", "copier", "server"],
        hints: &["缺货", "备件", "等配件"],
        days: (7, 25),
        amount: None,
        texts: &[
            (Hans, "{product}的电源板坏了，维修点说配件要从厂家调，已经等了{days}天还没消息。"),
            (Hans, "检测早就做完了，就是一直说备件没货，{model}放在维修点{days}天了。"),
            (Hant, "{product}的零件缺貨，已經等了{days}天，請問還要等多久？"),
            (En, "The repair of our {model} is on hold because a spare part is out of stock: {days} days and counting."),
        ],
        causes: &[(PARTS_STOCKOUT, 7)],
        remedies: &[(Remedy::Loaner, 3), (Remedy::Expedite, 3), (Remedy::Replace, 2)],
        severity_bias: 0,
        unfounded: 0.03,
    },
    Theme {
        key: "monitor_defect",
        category: "product_quality",
        weight: 2.5,
        products: &["monitor"],
        hints: &["坏点", "显示器", "屏幕"],
        days: (1, 20),
        amount: None,
        texts: &[
            (Hans, "新买的{model}显示器屏幕中间有两个亮点，右下角还漏光，看久了很难受。"),
            (Hans, "{model}用了{days}天屏幕开始花屏，换了线和接口都一样。"),
            (Hant, "新買的{model}顯示器有壞點，而且偶爾會閃爍。"),
            (En, "My new {model} monitor has three dead pixels near the centre and flickers at low brightness."),
        ],
        causes: &[(PANEL_BATCH, 6)],
        remedies: &[(Remedy::Replace, 6), (Remedy::Refund, 1)],
        severity_bias: -1,
        unfounded: 0.08,
    },
    Theme {
        key: "printer_jam",
        category: "product_quality",
        weight: 3.0,
        products: &["printer", "copier"],
        hints: &["打印机", "卡纸", "进纸"],
        days: (2, 30),
        amount: None,
        texts: &[
            (Hans, "办公室的{model}每打二三十张就卡一次纸，搓纸轮换过了也没用。"),
            (Hans, "{product}双面打印时频繁夹纸，一天要打开机盖好几次，严重影响办公。"),
            (En, "The {model} {product} jams every few pages, especially on duplex jobs. The whole office queues at it."),
            (Mixed, "{model} 老是 paper jam，一天拆好几次纸盒，office 都没法正常工作了。"),
        ],
        causes: &[(ROLLER_WEAR, 6)],
        remedies: &[(Remedy::Repair, 5), (Remedy::Replace, 2)],
        severity_bias: -1,
        unfounded: 0.1,
    },
    Theme {
        key: "laptop_overheating",
        category: "product_quality",
        weight: 2.5,
        products: &["laptop", "desktop"],
        hints: &["过热", "风扇"],
        days: (5, 40),
        amount: None,
        texts: &[
            (Hans, "{model}用了不到一个月，风扇噪音特别大，机身烫手，开视频会议就降频卡顿。"),
            (Hans, "新买的{product}一跑大一点的程序就过热关机，已经发生好几次了。"),
            (En, "The {model} overheats and throttles whenever I join a video call; the fan is extremely loud."),
        ],
        causes: &[(THERMAL, 5)],
        remedies: &[(Remedy::Repair, 4), (Remedy::Replace, 2)],
        severity_bias: -1,
        unfounded: 0.12,
    },
    Theme {
        key: "router_dropouts",
        category: "product_quality",
        weight: 1.5,
        products: &["router", "switch"],
        hints: &["断网", "固件"],
        days: (2, 20),
        amount: None,
        texts: &[
            (Hans, "公司的{product}隔一两个小时就掉线一次，视频会议全被打断。"),
            (Hant, "{model}路由器常常斷線，要重新開機才會恢復。"),
            (En, "Our {model} drops the connection every couple of hours and only a reboot brings it back."),
        ],
        causes: &[(DEFAULT_SETTINGS, 4), (THERMAL, 1)],
        remedies: &[(Remedy::Repair, 3), (Remedy::Replace, 3)],
        severity_bias: 0,
        unfounded: 0.15,
    },
    Theme {
        key: "router_firmware",
        category: "product_quality",
        weight: 4.0,
        products: &["router", "switch"],
        hints: &["断网", "固件"],
        days: (2, 20),
        amount: None,
        texts: &[
            (Hans, "{model}路由器每天断网好几次，必须重启才能恢复，升级固件之后更严重了。"),
            (Hans, "自动升级到新固件后，{product}每隔几十分钟就断一次网，已经{days}天了。"),
            (Hant, "{model}更新韌體之後一直斷線，要重新開機才會恢復。"),
            (En, "Our {model} drops the connection several times a day since the latest firmware update."),
            (Mixed, "{model} 一直掉线，upgrade firmware 以后更频繁，reboot 才能好。"),
        ],
        causes: &[(FIRMWARE_DEFECT, 8)],
        remedies: &[(Remedy::Repair, 4), (Remedy::Replace, 2)],
        severity_bias: 0,
        unfounded: 0.03,
    },
    Theme {
        key: "invoice_wrong",
        category: "billing",
        weight: 3.5,
        products: &["laptop", "desktop", "server", "licence", "copier"],
        hints: &["发票", "抬头", "税号"],
        days: (3, 20),
        amount: Some((50, 5_000)),
        texts: &[
            (Hans, "申请的增值税专票抬头写错了，税号也少一位，财务没法入账，请尽快重开。"),
            (Hans, "采购{product}的发票金额与合同不一致，差了{amount}元。"),
            (En, "The invoice for our {product} order has the wrong company name and tax ID. Our finance team cannot book it."),
        ],
        causes: &[(INVOICE_TEMPLATE, 6)],
        remedies: &[(Remedy::Reissue, 8)],
        severity_bias: -1,
        unfounded: 0.05,
    },
    Theme {
        key: "double_charge",
        category: "billing",
        weight: 3.0,
        products: &["laptop", "monitor", "router", "licence", "printer"],
        hints: &["重复扣款", "扣了两次", "退款"],
        days: (2, 15),
        amount: None,
        texts: &[
            (Hans, "同一笔订单被扣了两次款，每次{amount}元，银行流水都有记录，请退回多扣的钱。"),
            (Hans, "付款时页面报错，重新付了一次，结果两次都扣了，{amount}元到现在没退。"),
            (Hant, "同一筆訂單被重複扣款{amount}元，請盡快退還。"),
            (En, "I was charged twice ({amount} yuan each) for the same {product} order. Please refund the duplicate."),
        ],
        causes: &[(GATEWAY_CALLBACK, 5), (REFUND_BATCH, 1)],
        remedies: &[(Remedy::Refund, 8)],
        severity_bias: 0,
        unfounded: 0.06,
    },
    Theme {
        key: "return_refused",
        category: "returns",
        weight: 4.5,
        products: &["laptop", "monitor", "router", "printer", "desktop"],
        hints: &["退货", "拒绝退货", "七天无理由"],
        days: (1, 7),
        amount: None,
        texts: &[
            (Hans, "{product}收到第{days}天发现问题申请退货，客服以包装已拆为由拒绝，这不合理。"),
            (Hans, "在{city}门店买的{model}，七天内要求退货被拒，店员说特价机不退不换。"),
            (En, "Your store refused to take back an unopened {product} within the return period, saying it was a 'custom order'."),
            (Mixed, "申请 return {model}，系统一直显示 rejected，没有任何解释。"),
        ],
        causes: &[(RETURN_POLICY, 6)],
        remedies: &[(Remedy::Refund, 5), (Remedy::Replace, 2)],
        severity_bias: 0,
        unfounded: 0.12,
    },
    Theme {
        key: "refund_slow",
        category: "returns",
        weight: 2.5,
        products: &["laptop", "monitor", "router", "printer"],
        hints: &["退款", "没到账", "退货"],
        days: (7, 25),
        amount: None,
        texts: &[
            (Hans, "退货已经签收{days}天了，{amount}元退款还没到账，每次问都说在走流程。"),
            (Hant, "退貨已經簽收{days}天，退款{amount}元還沒收到。"),
            (En, "You received my returned {product} {days} days ago and the refund of {amount} yuan still hasn't arrived."),
        ],
        causes: &[(REFUND_BATCH, 6)],
        remedies: &[(Remedy::Refund, 8)],
        severity_bias: 0,
        unfounded: 0.04,
    },
    Theme {
        key: "warranty_dispute",
        category: "warranty",
        weight: 6.0,
        products: &["laptop", "desktop", "monitor", "printer", "server"],
        hints: &["保修", "人为损坏", "不给保"],
        days: (3, 20),
        amount: Some((300, 2_500)),
        texts: &[
            (Hans, "{product}在保修期内出了故障，维修点却说是人为损坏不给保，要收{amount}元。"),
            (Hans, "买了三年延保的{model}，第二年坏了，却说延保不包括这个部件。"),
            (Hant, "{product}還在保固期內，維修中心卻說是人為損壞，要收費{amount}元。"),
            (En, "The {model} failed within warranty but the service centre claims 'liquid damage' without evidence and wants {amount} yuan."),
            (Mixed, "{model} 还在 warranty 内，你们说是 user damage 要收{amount}块，证据呢？"),
        ],
        causes: &[(WARRANTY_RULES, 6)],
        remedies: &[(Remedy::Repair, 6), (Remedy::Voucher, 1)],
        severity_bias: 0,
        unfounded: 0.18,
    },
    Theme {
        key: "warranty_start_date",
        category: "warranty",
        weight: 2.0,
        products: &["laptop", "monitor", "printer"],
        hints: &["保修期", "过保"],
        days: (30, 330),
        amount: None,
        texts: &[
            (Hans, "保修期按出厂日期算而不是按购买日期，我买了才{days}天就被告知快过保了。"),
            (En, "You count the warranty of my {product} from the manufacturing date, not the purchase date, so it 'expired' {days} days after I bought it."),
        ],
        causes: &[(WARRANTY_DATE, 6)],
        remedies: &[(Remedy::Repair, 5), (Remedy::Voucher, 1)],
        severity_bias: -1,
        unfounded: 0.1,
    },
    Theme {
        key: "hotline_wait",
        category: "hotline",
        weight: 4.0,
        products: &[],
        hints: &["热线", "打不通", "转接"],
        days: (3, 8),
        amount: None,
        texts: &[
            (Hans, "客服热线打了{days}次都在排队，好不容易接通又被转了三次，最后直接断线。"),
            (Hans, "热线的语音菜单绕来绕去，按了二十分钟也转不到人工。"),
            (Hant, "客服專線一直打不通，等了四十分鐘還是沒人接。"),
            (En, "I spent over an hour on your hotline being transferred between departments and was then cut off."),
        ],
        causes: &[(HOTLINE_UNDERSTAFFED, 6)],
        remedies: &[(Remedy::Voucher, 3), (Remedy::Expedite, 3)],
        severity_bias: -1,
        unfounded: 0.05,
    },
    Theme {
        key: "callback_missed",
        category: "hotline",
        weight: 3.0,
        products: &[],
        hints: &["回电", "承诺回复", "没有回复"],
        days: (2, 10),
        amount: None,
        texts: &[
            (Hans, "上次客服承诺当天回电，到现在{days}天了都没有任何消息。"),
            (Hans, "说好主管会亲自回电话说明处理方案，等了{days}天，一个电话都没接到。"),
            (En, "An agent promised to call me back within a day. It has been {days} days."),
            (Mixed, "说好的 callback 一直没等到，case number 也查不到记录。"),
        ],
        causes: &[(CALLBACK_UNASSIGNED, 6)],
        remedies: &[(Remedy::Expedite, 5), (Remedy::Voucher, 1)],
        severity_bias: -1,
        unfounded: 0.05,
    },
    Theme {
        key: "rude_staff",
        category: "staff_conduct",
        weight: 5.0,
        products: &[],
        hints: &["态度差", "服务态度", "不专业"],
        days: (1, 5),
        amount: None,
        texts: &[
            (Hans, "{city}门店的店员态度非常差，问了两句就不耐烦，还说“爱买不买”。"),
            (Hans, "上门的工程师全程看手机，问他问题一个也答不上来，很不专业。"),
            (Hant, "門市人員態度很差，問問題愛理不理。"),
            (En, "The engineer who came to fix our equipment was rude to my staff and left without explaining anything."),
        ],
        causes: &[(SERVICE_TRAINING_GAP, 6)],
        remedies: &[(Remedy::Coaching, 6), (Remedy::Voucher, 2)],
        severity_bias: 0,
        unfounded: 0.15,
    },
    Theme {
        key: "training_cancelled",
        category: "training",
        weight: 2.0,
        products: &["training"],
        hints: &["培训", "课程取消"],
        days: (1, 3),
        amount: None,
        texts: &[
            (Hans, "我们报名了{model}培训，开课前一天才通知取消，机票和酒店都订好了。"),
            (En, "The {model} course we paid for was cancelled the day before it started, with no new date offered."),
        ],
        causes: &[(TRAINER_SCHEDULING, 6)],
        remedies: &[(Remedy::Retrain, 5), (Remedy::Refund, 2)],
        severity_bias: -1,
        unfounded: 0.03,
    },
    Theme {
        key: "training_quality",
        category: "training",
        weight: 1.5,
        products: &["training"],
        hints: &["培训", "讲师", "培训质量"],
        days: (2, 5),
        amount: None,
        texts: &[
            (Hans, "培训讲师照着幻灯片念，实操环节设备都没准备好，{days}天的{model}课程基本白上。"),
            (Hant, "講師只是照著投影片唸，實作設備也沒準備好，{days}天課程等於白上。"),
            (En, "The {model} trainer read from the slides and the lab machines were not ready; the {days}-day course was wasted."),
        ],
        causes: &[(TRAINING_LAB, 5), (TRAINER_SCHEDULING, 1)],
        remedies: &[(Remedy::Retrain, 5), (Remedy::Voucher, 2)],
        severity_bias: -1,
        unfounded: 0.1,
    },
    Theme {
        key: "licence_activation",
        category: "software",
        weight: 3.5,
        products: &["licence"],
        hints: &["激活", "许可证", "激活失败"],
        days: (1, 10),
        amount: None,
        texts: &[
            (Hans, "购买的{model}许可证激活时一直提示密钥无效，技术支持远程了两次也没解决。"),
            (Hans, "{model}的授权突然失效，全公司的电脑都弹出未激活提示。"),
            (En, "Our {model} licence keys fail to activate: 'key already in use' on brand-new seats."),
            (Mixed, "{model} 的 license key 激活失败，报错 activation server unreachable，急用。"),
        ],
        causes: &[(LICENCE_SERVER, 4), (KEY_BATCH, 3)],
        remedies: &[(Remedy::Expedite, 4), (Remedy::Replace, 2)],
        severity_bias: 1,
        unfounded: 0.05,
    },
    Theme {
        key: "auto_renewal",
        category: "software",
        weight: 1.5,
        products: &["licence"],
        hints: &["自动续费"],
        days: (1, 30),
        amount: None,
        texts: &[
            (Hans, "{model}订阅在没有任何提醒的情况下自动续费了{amount}元，我们早就不用这个软件了。"),
            (En, "We were auto-renewed for {model} ({amount} yuan) without any reminder, although we stopped using it months ago."),
        ],
        causes: &[(RENEWAL_REMINDER, 6)],
        remedies: &[(Remedy::Refund, 6)],
        severity_bias: 0,
        unfounded: 0.08,
    },
    Theme {
        key: "spam_calls",
        category: "privacy",
        weight: 3.0,
        products: &["laptop", "router", "monitor", "printer"],
        hints: &["个人信息", "骚扰电话", "泄露"],
        days: (1, 14),
        amount: None,
        texts: &[
            (Hans, "在你们这里买完{product}第二天就开始接到各种推销电话，对方能准确说出我的订单信息。"),
            (Hans, "最近{days}天每天都有人打电话推销延保，还知道我买的是{model}，我的信息是怎么泄露的？"),
            (Hant, "買了{product}之後一直接到推銷電話，懷疑個人資料外洩。"),
            (En, "Since buying a {product} from you I get daily sales calls from third parties who know my order details."),
        ],
        causes: &[(VENDOR_LEAK, 6)],
        remedies: &[(Remedy::DoNotCall, 7)],
        severity_bias: 1,
        unfounded: 0.1,
    },
    Theme {
        key: "price_changed",
        category: "pricing",
        weight: 2.5,
        products: &["laptop", "desktop", "monitor", "server"],
        hints: &["差价", "价格变动", "补差价"],
        days: (1, 5),
        amount: Some((100, 800)),
        texts: &[
            (Hans, "下单时{product}是活动价，付款后客服说价格调整了，要补{amount}元差价才发货。"),
            (Hans, "{model}付完款第二天降价{amount}元，申请价保被拒绝。"),
            (En, "The price of the {model} went up after I paid and now you want {amount} yuan more before shipping."),
        ],
        causes: &[(PRICE_SYNC, 6)],
        remedies: &[(Remedy::PriceMatch, 6), (Remedy::Refund, 1)],
        severity_bias: -1,
        unfounded: 0.08,
    },
    Theme {
        key: "promo_missing",
        category: "pricing",
        weight: 2.5,
        products: &["laptop", "monitor", "printer"],
        hints: &["赠品", "促销", "没送"],
        days: (3, 20),
        amount: None,
        texts: &[
            (Hans, "活动页面写着买{product}送无线鼠标和三年延保，收货{days}天了赠品一样都没有。"),
            (Hant, "活動說買{product}送贈品，到貨後完全沒有。"),
            (En, "The promotion promised a free docking station with the {model}; it never arrived."),
            (Mixed, "买 {model} 说好送 docking station，到现在也没收到，promotion 页面还挂着呢。"),
        ],
        causes: &[(PROMO_CONFIG, 6)],
        remedies: &[(Remedy::Gift, 6), (Remedy::Voucher, 1)],
        severity_bias: -1,
        unfounded: 0.07,
    },
    Theme {
        key: "ewaste_pickup",
        category: "recycling",
        weight: 2.0,
        products: &["desktop", "laptop", "printer"],
        hints: &["回收"],
        days: (2, 6),
        amount: None,
        texts: &[
            (Hans, "参加以旧换新活动预约了旧电脑回收，约了{days}次都没有人上门取走。"),
            (Hans, "公司淘汰的{product}交给你们回收，到现在没有收到数据销毁证明。"),
            (Hant, "預約了舊電腦回收，等了好幾次都沒有人來收。"),
            (En, "We scheduled an e-waste pickup for {days} old {product}s at our {city} office and nobody came."),
        ],
        causes: &[(RECYCLING_VENDOR, 6)],
        remedies: &[(Remedy::Pickup, 6)],
        severity_bias: -1,
        unfounded: 0.05,
    },
    Theme {
        key: "web_accessibility",
        category: "accessibility",
        weight: 1.5,
        products: &[],
        hints: &["无障碍"],
        days: (1, 5),
        amount: None,
        texts: &[
            (Hans, "官网下单页面对读屏软件完全不友好，验证码也没有语音选项，视障用户没办法自己下单。"),
            (Hans, "订单查询页面的字太小又不能放大，家里老人根本看不清。"),
            (En, "Your web shop cannot be used with a screen reader: the buttons have no labels and the captcha has no audio option."),
        ],
        causes: &[(WEBSITE_A11Y, 6)],
        remedies: &[(Remedy::AssistedOrder, 6)],
        severity_bias: 0,
        unfounded: 0.02,
    },
    Theme {
        key: "migration_incomplete",
        category: "data_migration",
        weight: 2.0,
        products: &["laptop", "desktop"],
        hints: &["数据迁移"],
        days: (2, 40),
        amount: None,
        texts: &[
            (Hans, "买新电脑时加购了数据迁移服务，迁移完邮件和桌面文件少了一大半。"),
            (Hans, "{days}台新{product}做数据迁移，浏览器收藏夹和共享盘映射全都没迁过来。"),
            (En, "The data migration service for our {days} new {product}s missed the browser bookmarks and all mail archives."),
            (Mixed, "data migration 做完以后邮件客户端的 archive 不见了，engineer 说工具不支持。"),
        ],
        causes: &[(MIGRATION_TOOL, 6)],
        remedies: &[(Remedy::Redo, 5), (Remedy::DataRecovery, 2)],
        severity_bias: 0,
        unfounded: 0.04,
    },
];

/// Cities, by the language customers write in.
pub(super) const CITIES_HANS: &[&str] = &[
    "北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "苏州", "天津", "重庆", "长沙", "青岛",
    "厦门", "郑州",
];
pub(super) const CITIES_HANT: &[&str] = &["香港", "台北", "澳門", "高雄", "台中"];
pub(super) const CITIES_EN: &[&str] =
    &["Shanghai", "Beijing", "Shenzhen", "Hong Kong", "Singapore", "Guangzhou", "Suzhou", "Chengdu"];

/// Sentences customers end with, by the language they write in (mixed writers use the Chinese ones).
pub(super) const CLOSINGS_HANS: &[&str] = &[
    "请尽快处理。",
    "希望今天能给我一个答复。",
    "再不解决我只能向消费者协会反映了。",
    "麻烦尽快联系我。",
    "非常失望。",
    "请给个说法。",
];
pub(super) const CLOSINGS_HANT: &[&str] = &["請盡快處理。", "希望盡快回覆。", "非常失望。"];
pub(super) const CLOSINGS_EN: &[&str] = &[
    "Please sort this out quickly.",
    "I expect a reply today.",
    "Please call me back.",
    "Very disappointed.",
    "This is not acceptable.",
];

/// Staff phrases in three forms: simplified Chinese, traditional Chinese (falls back to simplified when
/// empty), English.
pub(super) struct Phrases {
    pub hans: &'static [&'static str],
    pub hant: &'static [&'static str],
    pub en: &'static [&'static str],
}

pub(super) const ACKNOWLEDGEMENTS: Phrases = Phrases {
    hans: &[
        "您好，您的投诉（编号 {id}）我们已收到，专人将在 {hours} 小时内与您联系，给您带来不便深表歉意。",
        "已收到您关于{product}的反馈，工单号 {id}，我们正在核实情况，会尽快回复您。",
        "感谢您的耐心，投诉 {id} 已登记并转交相关部门处理。",
    ],
    hant: &["您好，您的投訴（編號 {id}）已收到，我們會在 {hours} 小時內與您聯絡，造成不便深感抱歉。"],
    en: &[
        "We have received your complaint ({id}); a case manager will contact you within {hours} hours. We are sorry for the trouble.",
        "Thank you for telling us about the problem with your {product}. Your case number is {id}; we are looking into it now.",
    ],
};

pub(super) const APOLOGIES: Phrases = Phrases {
    hans: &[
        "对于{product}给您造成的困扰，我们深表歉意，这不是我们应有的服务水准。",
        "非常抱歉让您失望了，我们会全程跟进直到问题解决。",
        "就此次服务失误向您郑重致歉，后续进展会第一时间告知您。",
    ],
    hant: &["對於此次給您帶來的不便，我們深表歉意，會全力跟進直到問題解決。"],
    en: &[
        "We sincerely apologise for the inconvenience; this is not the service you should expect from us.",
        "We are sorry we let you down. We will stay on this until it is resolved.",
    ],
};

pub(super) const PROGRESS_NOTES: Phrases = Phrases {
    hans: &[
        "已与{dept}核实，预计 {date} 前给出处理结果。",
        "工程师已完成初步检测，正在确认方案细节。",
        "已电话告知客户当前进度，客户表示理解。",
        "已督促相关部门加快处理，明日再次跟进。",
        "所需物料已下单，到货后第一时间安排。",
    ],
    hant: &[],
    en: &[
        "Checked with {dept}; a result is expected by {date}.",
        "Initial diagnosis done; confirming the details of the plan.",
        "Called the customer with an update; they are fine with the plan.",
        "Chased the team responsible; will follow up again tomorrow.",
        "Materials ordered; we schedule the work as soon as they arrive.",
    ],
};

pub(super) const DELAY_NOTES: Phrases = Phrases {
    hans: &[
        "因{reason}未能按原定时间完成，已向客户致歉并说明新的完成时间。",
        "承诺时间已过，{reason}，已主动联系客户说明情况。",
    ],
    hant: &[],
    en: &[
        "Missed the committed date ({reason}); apologised and gave the customer a new date.",
        "Past the promised date: {reason}. Called the customer to explain.",
    ],
};

pub(super) const DELAY_REASONS: Phrases = Phrases {
    hans: &["备件到货延误", "工程师临时被调往紧急现场", "物流受天气影响", "供应商返修件未按时寄回"],
    hant: &[],
    en: &[
        "parts arrived late",
        "the engineer was pulled to an emergency",
        "weather held up transport",
        "the supplier returned the part late",
    ],
};

pub(super) const COMMITMENTS: Phrases = Phrases {
    hans: &["在 {date} 前完成：{solution}", "承诺于 {date} 前落实：{solution}"],
    hant: &[],
    en: &["Done by {date}: {solution}", "We commit to complete by {date}: {solution}"],
};

pub(super) const REJECTIONS: Phrases = Phrases {
    hans: &[
        "客户认为补偿力度不够",
        "客户不接受维修，要求直接换新",
        "客户不愿再等，要求退款",
        "方案周期太长，客户无法接受",
    ],
    hant: &[],
    en: &[
        "The customer finds the compensation too low",
        "The customer wants a replacement, not a repair",
        "The customer will not wait any longer and asks for a refund",
        "The timeline is too long for the customer",
    ],
};

pub(super) const SATISFIED_COMMENTS: Phrases = Phrases {
    hans: &["处理及时，感谢。", "问题已解决，谢谢持续跟进。", "满意，希望以后不要再出现类似问题。"],
    hant: &["處理得很快，謝謝。"],
    en: &[
        "Sorted quickly, thank you.",
        "Problem solved, thanks for following up.",
        "Fine now; please make sure it doesn't happen again.",
    ],
};

pub(super) const UNSATISFIED_COMMENTS: Phrases = Phrases {
    hans: &["问题没有彻底解决，用了两天又出现了。", "处理结果和承诺的不一样。", "换回来的机器又有新的毛病。"],
    hant: &["問題沒有完全解決。"],
    en: &[
        "It is not really fixed; the problem came back after two days.",
        "This is not what was promised.",
        "The unit you sent back has a new fault.",
    ],
};

pub(super) const REVISIT_NOTES: Phrases = Phrases {
    hans: &[
        "客户表示设备使用正常。",
        "客户对处理速度满意，对最初的沟通不太满意。",
        "客户建议改进预约流程。",
        "客户对回访表示感谢。",
    ],
    hant: &[],
    en: &[
        "The customer says everything works.",
        "Happy with the speed of the fix, less with the first contact.",
        "The customer suggests improving how appointments are booked.",
        "The customer thanked us for the follow-up.",
    ],
};

pub(super) const PERSISTING_NOTES: Phrases = Phrases {
    hans: &["回访时客户反映问题仍然存在。", "客户表示故障偶尔还会出现。"],
    hant: &[],
    en: &["On the revisit the customer says the problem is still there.", "The fault still shows up now and then."],
};

pub(super) const REOPEN_REASONS: Phrases = Phrases {
    hans: &["回访时客户反映同样的故障再次出现", "客户来电称处理后问题依旧", "客户反映退款金额不全"],
    hant: &[],
    en: &[
        "On the revisit the customer reported the same fault again",
        "The customer called: the problem is back",
        "The customer says the refund was incomplete",
    ],
};

pub(super) const LATE_REOPEN_REASONS: Phrases = Phrases {
    hans: &["结案一个月后客户来电，同样问题再次出现", "客户再次来信，称问题并未真正解决"],
    hant: &[],
    en: &[
        "A month after closing, the customer called: the same problem is back",
        "The customer wrote again: it was never really solved",
    ],
};

pub(super) const WITHDRAWALS: Phrases = Phrases {
    hans: &["客户来电表示问题已自行解决，撤回投诉。", "客户表示不再追究，申请撤回投诉。"],
    hant: &[],
    en: &[
        "The customer called: they sorted it out themselves and withdraw the complaint.",
        "The customer no longer wishes to pursue the complaint.",
    ],
};

pub(super) const UNFOUNDED_NOTES: Phrases = Phrases {
    hans: &["经核查：{cause}。已向客户详细说明核查结果及依据。"],
    hant: &[],
    en: &["After review: {cause}. Explained the findings and the evidence to the customer."],
};

pub(super) const REVIEW_UPHELD: Phrases = Phrases {
    hans: &["主管复核后维持原核查结论，已再次向客户解释。"],
    hant: &[],
    en: &["A supervisor reviewed the case and upheld the finding; explained again to the customer."],
};

/// Why a complaint was escalated, by what triggered it.
pub(super) struct EscalationReasons {
    pub ack_late: (&'static str, &'static str),
    pub rejected: (&'static str, &'static str),
    pub missed: (&'static str, &'static str),
    pub unsatisfied: (&'static str, &'static str),
    pub major: (&'static str, &'static str),
    pub disputed: (&'static str, &'static str),
    pub public: (&'static str, &'static str),
    pub reopened: (&'static str, &'static str),
}

pub(super) const ESCALATION_REASONS: EscalationReasons = EscalationReasons {
    ack_late: ("超过确认时限仍未回复客户", "Acknowledgement deadline passed without a reply"),
    rejected: ("客户拒绝解决方案，需要更高权限处理", "The customer rejected the offer; needs more authority"),
    missed: ("承诺时限已过仍未完成", "The commitment is overdue"),
    unsatisfied: ("客户对处理结果不满意", "The customer is not satisfied with the result"),
    major: ("重大投诉，需管理层跟进", "Major complaint; management to follow"),
    disputed: ("客户不认可核查结论", "The customer disputes the finding"),
    public: (
        "客户表示将向媒体或消费者协会反映",
        "The customer threatens to go to the press or the consumer association",
    ),
    reopened: ("投诉被重新打开，需要复盘", "Reopened complaint needs a review"),
};

/// Senior managers who make apology visits (道歉小组).
pub(super) const VISITORS: &[&str] = &[
    "客户服务副总裁 / VP Customer Service",
    "区域总经理 / Regional General Manager",
    "客户服务总监 / Director of Customer Service",
    "大客户部总经理 / Head of Key Accounts",
    "服务质量总监 / Director of Service Quality",
];

pub(super) const VISIT_GIFTS: &[&str] = &[
    "延长保修一年 / one-year warranty extension",
    "500 元服务代金券 / 500 yuan service voucher",
    "免费上门保养一次 / one free on-site maintenance",
    "致歉信与果篮 / letter of apology and a fruit basket",
];

pub(super) const VISIT_NOTES: Phrases = Phrases {
    hans: &["当面致歉并听取改进意见。", "与客户 IT 负责人一起复盘事件经过。", "约定每季度进行一次服务回顾。"],
    hant: &[],
    en: &[
        "Apologised in person and listened to suggestions.",
        "Went through the incident with the customer's IT lead.",
        "Agreed on a quarterly service review.",
    ],
};

/// Prefixes some channels put before the customer's words.
pub(super) fn channel_prefix(channel: redress_schemas::Channel, chinese: bool, pick: usize) -> &'static str {
    use redress_schemas::Channel;
    match (channel, chinese) {
        (Channel::Survey, true) => "【满意度调查留言】",
        (Channel::Survey, false) => "[Satisfaction survey comment] ",
        (Channel::Social, true) => "@客服 ",
        (Channel::Social, false) => "@support ",
        (Channel::Letter, true) => "致客户服务部：",
        (Channel::Letter, false) => "Dear Customer Service, ",
        (Channel::Other, true) => ["（消费者协会转办）", "（销售代表转来）", "（经销商转来）"][pick % 3],
        (Channel::Other, false) => {
            ["(forwarded by the consumer association) ", "(forwarded by our sales rep) ", "(forwarded by a reseller) "]
                [pick % 3]
        }
        _ => "",
    }
}

/// Extra keywords a revision adds to an answer, by category.
pub(super) fn revision_keywords(category: &str) -> &'static [&'static str] {
    match category {
        "delivery" => &["物流停滞", "快递"],
        "installation" => &["上门安装", "安装师傅"],
        "repair" => &["维修中心", "检测"],
        "product_quality" => &["质量问题", "故障"],
        "billing" => &["账单", "扣款"],
        "returns" => &["退换", "退货流程"],
        "warranty" => &["延保", "保修卡"],
        "hotline" => &["客服电话", "人工客服"],
        "staff_conduct" => &["店员", "工程师态度"],
        "training" => &["课程", "线上培训"],
        "software" => &["软件授权", "激活码"],
        "privacy" => &["数据安全", "营销短信"],
        "pricing" => &["价格保护", "降价"],
        _ => &["售后"],
    }
}

/// One agent of the desk: an id of the form `agent-<family>-<given>` (no other personal data), the team, and how
/// many complaints of the team's share they take (a couple of agents carry far more than the rest).
#[derive(Debug, Clone, Copy)]
pub(super) struct Agent {
    pub id: &'static str,
    pub team: &'static str,
    pub load: u32,
}

const fn agent(id: &'static str, team: &'static str, load: u32) -> Agent {
    Agent { id, team, load }
}

/// The desk: twelve agents in four teams, with uneven workloads.
pub(super) const ROSTER: &[Agent] = &[
    agent("agent-wang-li", "hotline", 10),
    agent("agent-zhang-wei", "hotline", 3),
    agent("agent-liu-yang", "hotline", 3),
    agent("agent-chen-jing", "hotline", 2),
    agent("agent-zhao-lei", "repair", 9),
    agent("agent-huang-min", "repair", 2),
    agent("agent-zhou-tao", "repair", 2),
    agent("agent-wu-fang", "billing", 5),
    agent("agent-xu-lin", "billing", 1),
    agent("agent-sun-hao", "billing", 1),
    agent("agent-ma-lan", "key-accounts", 3),
    agent("agent-hu-jun", "key-accounts", 2),
];

/// The team that owns complaints of a category (key customers' complaints go to `key-accounts` whatever it is).
pub(super) fn team_of(category: &str) -> &'static str {
    match category {
        "repair" | "product_quality" | "installation" | "warranty" | "data_migration" => "repair",
        "billing" | "returns" | "pricing" => "billing",
        _ => "hotline",
    }
}

pub(super) const TRANSFER_NOTES: Phrases = Phrases {
    hans: &["升级后转交资深专员跟进", "原负责人休假，转交同组同事", "工作量调整，转交处理"],
    hant: &["升級後轉交資深專員跟進", "原負責人休假，轉交同組同事"],
    en: &["transferred to a senior agent after the escalation", "owner on leave, handed to a colleague"],
};

/// What the desk asks the customer before it can go on (`waiting_on_customer.reason`).
pub(super) const QUESTIONS: Phrases = Phrases {
    hans: &[
        "请提供订单号和购买凭证照片",
        "请提供故障现象的照片或视频",
        "请确认方便上门的时间段",
        "请提供设备序列号（机身底部标签）",
        "请确认收货地址和联系电话",
    ],
    hant: &["請提供訂單號和購買憑證照片", "請提供故障現象的照片或影片", "請確認方便上門的時段"],
    en: &[
        "Please send the order number and a photo of the receipt",
        "Please send a photo or video of the fault",
        "Please confirm when an engineer may visit",
        "Please send the serial number from the label under the device",
    ],
};

pub(super) const ANSWERS_GIVEN: Phrases = Phrases {
    hans: &["客户已补充所需资料", "客户回电确认了时间", "客户通过邮件发来照片"],
    hant: &["客戶已補充所需資料", "客戶回電確認了時間"],
    en: &["the customer sent what was asked", "the customer called back to confirm", "photos received by email"],
};

/// A periodic update to the customer (`progress_updated` with `customer_informed: true`).
pub(super) const PERIODIC_UPDATES: Phrases = Phrases {
    hans: &[
        "您的投诉仍在处理中，我们会持续跟进，有进展第一时间告知您。",
        "向您通报最新进展：相关部门正在处理，预计近期给您答复。",
        "您好，您的问题我们一直在跟进，目前仍在处理中，感谢您的耐心。",
    ],
    hant: &[
        "您的投訴仍在處理中，我們會持續跟進，有進展會第一時間通知您。",
        "向您通報最新進展：相關部門正在處理，預計近期給您答覆。",
    ],
    en: &[
        "Your complaint is still being worked on; we will keep you posted.",
        "An update on your complaint: the team is on it and we expect to come back to you shortly.",
        "We are still following up on your issue and will tell you as soon as there is news.",
    ],
};
