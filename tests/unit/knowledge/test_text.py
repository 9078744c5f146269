"""Search terms: Japanese bigrams and base forms, English stems, normalisation."""

from __future__ import annotations

from tsunagi.knowledge.text import bigrams, fold_kana, normalize, query_terms, terms


def test_a_two_character_word_is_a_term_of_its_own() -> None:
    # The failure of trigram indexes: 配送 must survive as a term.
    assert "配送" in query_terms("配送 来ない")


def test_the_seed_query_shares_terms_with_the_seed_faq() -> None:
    document = set(terms("今日の配送が来ない。何時ぐらいになりますか?"))
    query = set(query_terms("配送 来ない"))
    # 配送 (bigram and word), 来な (bigram) and the base form 来る (来ない → 来る).
    assert {"配送", "w:配送", "来な", "w:来る"} <= document & query


def test_inflections_meet_through_base_forms() -> None:
    assert "w:届く" in terms("商品が届きません")
    assert "w:届く" in terms("届かない")


def test_spelling_variants_meet_through_normalised_forms() -> None:
    assert "w:引っ越し" in terms("引越しの手続き")
    assert "w:引っ越し" in terms("引っ越し")


def test_nfkc_and_kana_folding() -> None:
    assert normalize("ＡＢＣ１２３ ｽﾏﾎ") == "abc123 スマホ"
    assert fold_kana("スマホ") == "すまほ"
    assert set(terms("ｽﾏﾎ")) == set(terms("スマホ"))


def test_grammar_bigrams_are_left_out() -> None:
    assert list(bigrams("ない")) == []
    assert list(bigrams("来ない")) == ["来な"]
    assert list(bigrams("税")) == ["税"]


def test_english_words_are_stemmed_and_stop_words_dropped() -> None:
    assert terms("The deliveries are late") == ["w:deliveri", "w:late"]
    assert query_terms("delivery") == ["w:deliveri"]


def test_mixed_text_and_empty_text() -> None:
    assert "w:eフレンズ" not in terms("eフレンズ")  # scripts split: e + フレンズ
    assert "w:e" in terms("eフレンズ")
    assert terms("") == []
    assert terms("!!! ???") == []


def test_term_length_is_bounded() -> None:
    assert all(len(term) <= 64 for term in terms("a" * 500))
