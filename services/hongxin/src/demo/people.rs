//! Made-up but well-formed people: Chinese names, resident ID numbers whose
//! check character follows GB 11643, and mainland mobile numbers. Everything
//! is a function of the person's index, so every run makes the same people.

/// A 64-bit mix of `n` (splitmix64): stable, well spread, no state.
pub(crate) fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "程", "曹", "袁",
    "邓", "许", "傅", "沈", "曾", "彭", "吕", "苏", "卢", "蒋", "蔡", "贾", "丁", "魏", "薛", "叶",
    "阎", "田", "任", "姜", "范", "孟", "崔", "毕", "邢", "侯", "房", "齐",
];

const MALE_GIVEN: &[&str] = &[
    "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "鹏", "浩", "宇", "晨", "志刚",
    "建国", "海涛", "东升", "振华", "立新", "文博", "子豪", "俊杰", "国庆", "庆华", "卫东", "建军",
    "新民", "永强", "春雷", "德胜", "长青", "金龙", "广利", "兆峰", "传奇", "家豪", "昊天", "晓东",
    "宏伟", "瑞祥", "明轩", "泽宇", "继光",
];

const FEMALE_GIVEN: &[&str] = &[
    "秀英", "娜", "静", "丽", "敏", "燕", "霞", "芳", "婷", "雪", "慧", "玲", "海燕", "晓红",
    "桂兰", "春梅", "凤霞", "丽娟", "雅琪", "欣怡", "梦瑶", "佳琪", "晓雯", "淑珍", "红梅", "丹",
    "倩", "颖", "文静", "思雨",
];

/// Region codes of Qihe and of the places its mobile workers come from.
const REGIONS: &[&str] = &[
    "371425", // 齐河县
    "371425", "371425", "371425", "371482", // 禹城市
    "371402", // 德州市德城区
    "371426", // 平原县
    "371502", // 聊城市东昌府区
    "370105", // 济南市天桥区
    "371702", // 菏泽市牡丹区
];

/// The phone prefixes of mainland carriers.
const PHONE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "176", "177", "180", "181", "182", "185", "186", "187",
    "188", "189",
];

/// One made-up person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub name: String,
    pub id_number: String,
    pub phone: String,
}

/// The GB 11643 check character of the first 17 digits.
pub(crate) fn check_character(body: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b.wrapping_sub(b'0')) * w)
        .sum();
    char::from(b"10X98765432"[(sum % 11) as usize])
}

/// The person with index `n` (below 1000), born between `oldest` and
/// `youngest` (years). The sequence code is the index itself, so no two
/// people share an ID number; its parity says the sex, as the standard
/// has it (odd: male), and the given name follows it.
pub(crate) fn identity(n: u32, oldest: i32, youngest: i32) -> Identity {
    let h = mix(u64::from(n));
    let male = n % 2 == 1;
    let surname = SURNAMES[(h % SURNAMES.len() as u64) as usize];
    let given = if male { MALE_GIVEN } else { FEMALE_GIVEN };
    let given = given[((h >> 8) % given.len() as u64) as usize];
    let span = (youngest - oldest).max(0) as u64 + 1;
    let year = oldest + ((h >> 16) % span) as i32;
    let month = 1 + ((h >> 24) % 12) as u32;
    // Day 28 at most keeps every month valid.
    let day = 1 + ((h >> 32) % 28) as u32;
    let region = REGIONS[((h >> 40) % REGIONS.len() as u64) as usize];
    let body = format!("{region}{year:04}{month:02}{day:02}{:03}", n % 1000);
    let id_number = format!("{body}{}", check_character(&body));
    let prefix = PHONE_PREFIXES[((h >> 44) % PHONE_PREFIXES.len() as u64) as usize];
    // Eight digits after the prefix; the index in the last three keeps
    // every number apart.
    let phone = format!("{prefix}{:05}{:03}", (h >> 20) % 100_000, n % 1000);
    Identity {
        name: format!("{surname}{given}"),
        id_number,
        phone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_character_follows_the_standard() {
        // GB 11643's own example: 11010519491231002X.
        assert_eq!(check_character("11010519491231002"), 'X');
        assert_eq!(check_character("37142519900101001"), '1');
    }

    #[test]
    fn people_are_the_same_every_time_and_all_different() {
        assert_eq!(identity(7, 1975, 2000), identity(7, 1975, 2000));
        let all: std::collections::HashSet<String> = (0..999)
            .map(|n| identity(n, 1970, 2003).id_number)
            .collect();
        assert_eq!(all.len(), 999);
        let phones: std::collections::HashSet<String> =
            (0..999).map(|n| identity(n, 1970, 2003).phone).collect();
        assert_eq!(phones.len(), 999);
        for n in 0..999 {
            let p = identity(n, 1970, 2003);
            assert_eq!(p.id_number.len(), 18);
            assert_eq!(p.phone.len(), 11);
            assert!(p.phone.starts_with('1'));
            let body = &p.id_number[..17];
            assert_eq!(p.id_number.chars().last(), Some(check_character(body)));
        }
    }
}
