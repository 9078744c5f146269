"""Demo knowledge base: FAQ, manuals and scripts of a Japanese consumer co-op's member
service center, written for Tsunagi after the inquiries the seed articles describe
(delivery, fees and payment, stores, co-op electricity and gas, procedures, products,
events). Categories are the demo tenant's wrap-up codes (``demo/seed.py``); manuals and
scripts have none. ``load_knowledge`` publishes them for a tenant through the actions.

``ARTICLES`` is also the corpus of the Japanese search-quality set
(``benchmarks/knowledge/ja_queries.json`` refers to articles by ``key``).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import User
from tsunagi.domain.permissions import Principal, Role


@dataclass(frozen=True, slots=True)
class DemoArticle:
    key: str
    category: str | None
    kind: str
    visibility: str
    title: str
    body: str


def _a(
    key: str, category: str | None, title: str, body: str, kind: str = "faq", vis: str = "public"
) -> DemoArticle:
    return DemoArticle(key, category, kind, vis, title, body)


ARTICLES: tuple[DemoArticle, ...] = (
    _a(
        "delivery-late",
        "delivery-missing",
        "今日の配送が来ない。何時ごろになりますか?",
        "配送状況はeフレンズのマイページで確認できます。交通事情や天候により予定より遅れることがあります。"
        "お届け予定時刻を過ぎても届かない場合は、担当センターに確認のうえ折り返しご連絡します。"
        "組合員番号とお届け先をお伺いしてください。",
    ),
    _a(
        "delivery-absent",
        "delivery-absent",
        "配送時に留守にするので商品を受け取れない",
        "個人別配送をご利用の方は連絡不要です。品温管理をした保冷箱に入れてご指定の場所に置いてお届けします。"
        "グループ配送の方や、終日不在で受け取りができない場合はご相談を承りますので、センターまでお問い合わせください。",
    ),
    _a(
        "delivery-place",
        "delivery-change",
        "置き場所(お届け場所)を変更したい",
        "玄関前、物置、車庫など、お届け場所の変更を承ります。変更は次回配達分から反映されます。"
        "オートロックのマンションの場合は解錠方法もお伺いします。",
    ),
    _a(
        "delivery-missing-item",
        "delivery-damaged",
        "注文した商品が入っていない(欠品・誤配)",
        "届いた商品に不足や間違いがあった場合は、商品名と数量をお伺いし、返金または次回お届けで対応します。"
        "欠品の場合は納品書に欠品のお知らせが記載されています。他の方の商品が入っていた場合は回収に伺います。",
    ),
    _a(
        "delivery-damaged",
        "delivery-damaged",
        "商品が破損していた・卵が割れていた",
        "配達時の破損はお詫びのうえ返金または交換いたします。割れた卵やつぶれた商品は写真があれば添えてお知らせください。"
        "現物の回収が必要な場合は次回配達時に担当者が伺います。",
    ),
    _a(
        "delivery-skip-week",
        "leave",
        "旅行で一週間お休みしたい(配達休止)",
        "帰省や旅行などで配達をお休みする場合は、休止したい週の注文締切日までにお申し出ください。"
        "お休みの週は注文書とカタログも届きません。再開は自動で行われます。",
    ),
    _a(
        "order-deadline",
        "order-sheet",
        "注文の締め切りはいつですか",
        "注文書は次回の配達時に回収します。インターネット注文(eフレンズ)は配達曜日の前の週の締切日の夜までです。"
        "締切後の追加や取り消しはできませんのでご注意ください。",
    ),
    _a(
        "order-cancel",
        "order-add",
        "注文を取り消したい・数量を間違えた",
        "締切前であればeフレンズで注文内容を変更できます。締切後は取り消しができませんが、"
        "数量の入力間違いで極端に多い場合はセンターで確認しますのでお早めにご連絡ください。",
    ),
    _a(
        "order-smartphone",
        "eorder",
        "スマホで注文したい(eフレンズの登録)",
        "スマートフォンやパソコンからeフレンズに登録すると、注文、配送状況の確認、利用明細の閲覧ができます。"
        "登録には組合員番号とメールアドレスが必要です。",
    ),
    _a(
        "web-password",
        "eorder",
        "eフレンズのパスワードを忘れた・ログインできない",
        "ログイン画面の「パスワードを忘れた方」から再設定できます。登録したメールアドレスに再設定用のリンクが届きます。"
        "メールが届かない場合は迷惑メールフォルダを確認していただき、それでも届かなければセンターで登録内容を確認します。",
    ),
    _a(
        "payment-method",
        "billing-method",
        "代金の支払い方法を知りたい",
        "ご利用代金は毎月ご指定の金融機関の口座から引き落とします。引き落とし日は毎月27日です。"
        "口座を変更する場合は口座振替依頼書の提出が必要です。",
    ),
    _a(
        "payment-failed",
        "billing-overdue",
        "口座の残高不足で引き落としができなかった",
        "残高不足で引き落としができなかった場合は、翌月に前月分と合わせて再度引き落とします。"
        "お急ぎの場合は振込用紙を送付しますので、コンビニエンスストアでお支払いください。",
    ),
    _a(
        "payment-receipt",
        "billing-amount",
        "利用明細・領収書がほしい",
        "月ごとのご利用明細はeフレンズのマイページで確認・印刷できます。領収書が必要な場合は宛名と期間をお伺いし、郵送します。",
    ),
    _a(
        "fee-delivery-charge",
        "billing-amount",
        "配達手数料はいくらですか・割引はありますか",
        "個人別配送の手数料は1回の配達ごとにかかります。妊娠中の方、小さなお子さまのいる方、"
        "ご高齢の方などには手数料の割引制度があります。対象かどうかはセンターで確認します。",
    ),
    _a(
        "membership-join",
        "join",
        "生協に加入したい(新規加入の手続き)",
        "加入は出資金をお支払いいただくことで組合員になれます。ホームページ、電話、テレビ電話での説明のいずれでも受け付けています。"
        "テレビ電話ではお手持ちのスマホやパソコンで資料を見ながら説明を聞けます。",
    ),
    _a(
        "membership-leave",
        "leave",
        "生協を脱退したい・出資金の返還",
        "脱退のお申し出を受け付けると、脱退届をお送りします。出資金は年度末の決算後に指定口座へ返還します。"
        "未払いの利用代金がある場合は差し引いて返還します。",
    ),
    _a(
        "procedure-address",
        "address-change",
        "引っ越しするので住所を変更したい",
        "引越しの際は新しい住所、電話番号、転居日をお伺いします。配達エリアが変わる場合は配達曜日やコースが変わります。"
        "区域外への転居の場合は脱退または他の生協への移籍のご案内をします。",
    ),
    _a(
        "procedure-name",
        "address-change",
        "名前や電話番号など登録内容を変えたい",
        "結婚などによる氏名の変更、電話番号やメールアドレスの変更を承ります。本人確認のため組合員番号と生年月日をお伺いします。",
    ),
    _a(
        "store-hours",
        "stores-hours",
        "お店の営業時間と定休日を教えて",
        "店舗の営業時間は店舗ごとに異なります。多くの店舗は午前10時から午後9時まで営業しています。"
        "年末年始は営業時間が変わりますので、店舗のお知らせをご確認ください。",
    ),
    _a(
        "store-points",
        "points",
        "お店でポイントは貯まりますか",
        "組合員証を提示すると、お店での買い物にポイントが付きます。貯まったポイントは1ポイント1円として利用できます。"
        "宅配の利用分とポイントは共通です。",
    ),
    _a(
        "electricity-apply",
        "electricity-contract",
        "コープでんきに切り替えたい",
        "コープでんきへの切り替えには、現在の電力会社の検針票に記載の供給地点特定番号とお客様番号が必要です。"
        "工事や立ち会いは原則不要で、スマートメーターへの交換は電力会社が行います。",
    ),
    _a(
        "electricity-bill",
        "electricity-bill",
        "コープでんきの料金が高い・請求額を確認したい",
        "電気料金は使用量と燃料費調整額によって毎月変わります。使用量と料金の内訳はマイページで確認できます。"
        "前年同月と比べて大きく増えている場合は、検針日や使用量をお伺いして確認します。",
    ),
    _a(
        "gas-apply",
        "gas-contract",
        "コープガスの申し込み方法",
        "コープガスは都市ガスの供給区域でお申し込みいただけます。ガス会社の検針票をご用意ください。"
        "切り替え時のガス工事はなく、安全点検はこれまでどおり行われます。",
    ),
    _a(
        "gas-leak",
        "gas-safety",
        "ガス臭い・ガス漏れかもしれない",
        "ガス臭いときは火を使わず、換気扇などの電気のスイッチにも触れずに窓を開けてください。"
        "すぐにガス会社の緊急連絡先へ電話するようご案内します。センターでの受付を待たずに連絡してもらうことが大切です。",
    ),
    _a(
        "product-allergy",
        "product-allergen",
        "アレルギー物質や原材料を知りたい",
        "商品の原材料とアレルギー物質(特定原材料)はカタログとeフレンズの商品ページに掲載しています。"
        "掲載のない情報は商品番号をお伺いし、メーカーに確認してご連絡します。",
    ),
    _a(
        "product-favorite",
        "product-request",
        "お気に入り商品のお知らせサービス",
        "登録したお気に入り商品が企画される週に、注文書でお知らせするサービスです。買い忘れを防げます。"
        "登録と解除はeフレンズまたはセンターで承ります。",
    ),
    _a(
        "product-recall",
        "product-quality",
        "商品の回収(リコール)について",
        "回収のお知らせが出た商品は、食べずに保管してください。次回配達時に回収し、代金は返金します。"
        "すでに食べてしまい体調に異変がある場合は医療機関を受診するようお伝えし、詳しい状況を記録します。",
    ),
    _a(
        "event-apply",
        "events",
        "料理教室や見学会(イベント)に申し込みたい",
        "料理教室、産地見学会、工場見学などのイベントはカタログとホームページで募集しています。"
        "定員を超えた場合は抽選になり、結果はハガキまたはメールでお知らせします。",
    ),
    _a(
        "chat-howto",
        "eorder",
        "チャットで問い合わせたい",
        "ホームページのチャットから、専任のコミュニケーターに文字で問い合わせできます。"
        "電話がつながりにくいときや、声を出しにくい場所でも気軽にご利用ください。使い方ガイドもあります。",
    ),
    _a(
        "complaint-first",
        None,
        "苦情・クレームの一次対応の手順",
        "まずお詫びし、お客様のお話を最後までさえぎらずに伺います。事実関係(いつ、何が、どうなったか)を確認し、"
        "その場で答えられないことは確認して折り返す約束をします。対応内容は必ず応対履歴に記録し、必要に応じてSVへエスカレーションします。",
        kind="manual",
        vis="internal",
    ),
    _a(
        "hold-manners",
        None,
        "保留にするときの言葉づかい",
        "保留の前には理由と目安の時間を伝え、了承を得てから保留にします。"
        "例:「恐れ入りますが、確認いたしますので少々お待ちいただけますでしょうか」。"
        "30秒を超えそうなときは一度戻って状況を伝えるか、折り返しを提案します。",
        kind="manual",
        vis="internal",
    ),
    _a(
        "script-greeting",
        None,
        "受電時の第一声と本人確認",
        "お電話ありがとうございます。組合員サービスセンターの{agent.name}でございます。"
        "{customer.name}様でいらっしゃいますね。ご本人確認のため、組合員番号{customer.member_no}の下4桁と"
        "ご登録のお電話番号をお伺いしてもよろしいでしょうか。",
        kind="script",
        vis="internal",
    ),
    _a(
        "script-callback",
        None,
        "折り返し電話のトーク",
        "{customer.name}様のお電話でしょうか。組合員サービスセンターの{agent.name}でございます。"
        "先ほどお問い合わせいただいた件について、確認が取れましたのでご連絡いたしました。今お時間よろしいでしょうか。",
        kind="script",
        vis="internal",
    ),
)


async def load_knowledge(db: Database, tenant_id: UUID) -> list[UUID]:
    """Publish the demo articles for ``tenant_id``; the tenant's first administrator (or
    any user) is their author and owner. Returns the article ids in ``ARTICLES`` order."""
    from sqlalchemy import select

    from tsunagi.actions.knowledge import do_create_article

    async with db.scoped(tenant_id, readonly=True) as session:
        users = list(await session.scalars(select(User).order_by(User.created_at)))
    if not users:
        raise ValueError("the tenant has no user to author the demo articles")
    author = next((u for u in users if Role.ADMINISTRATOR.value in u.roles), users[0])
    principal = Principal(
        user_id=author.id, tenant_id=tenant_id, roles=frozenset({Role.ADMINISTRATOR})
    )
    return [
        await do_create_article(
            db,
            principal,
            title=article.title,
            body=article.body,
            kind=article.kind,
            visibility=article.visibility,
            category_code=article.category,
            publish=True,
        )
        for article in ARTICLES
    ]
