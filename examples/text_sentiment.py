"""Sentiment of review sentences with a bidirectional LSTM (about a minute on 2 cores).

python examples/text_sentiment.py
"""

import lstmkit
from lstmkit.classify import sentiment_sentences, stratified_split

texts, labels = sentiment_sentences()  # 3,000 sentences, Kotzias et al. 2015, CC BY 4.0
train_x, train_y, test_x, test_y = stratified_split(texts, labels, test_fraction=0.2, seed=0)

clf = lstmkit.TextClassifier(seed=0)  # words, BiLSTM over true lengths, max pooling
clf.fit(train_x, train_y, log=lambda r: print(f"epoch {r['epoch']}: loss {r['train_loss']:.3f}"))

report = clf.evaluate(test_x, test_y)
print(f"test accuracy {report['accuracy']:.3f}, macro F1 {report['macro_f1']:.3f}")
print(
    "confusion matrix (rows true, columns predicted)", report["labels"], report["confusion_matrix"]
)

for sentence, p in zip(
    ["The battery died after a day.", "Best pizza in town!"],
    clf.predict_proba(["The battery died after a day.", "Best pizza in town!"]),
):
    print(f"{sentence!r}: " + ", ".join(f"{c} {q:.2f}" for c, q in zip(clf.classes_, p)))

clf.save("sentiment-model")
print(lstmkit.TextClassifier.load("sentiment-model").predict(["I would not recommend it."]))
