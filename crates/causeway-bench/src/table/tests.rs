use super::Table;

#[test]
fn aligns_first_column_left_and_the_rest_right() {
    let mut t = Table::new(&["name", "value"]);
    t.row(vec!["a".into(), "1.5".into()]);
    t.row(vec!["longer".into(), "22".into()]);
    assert_eq!(t.render(), "name    value\na         1.5\nlonger     22\n");
}
